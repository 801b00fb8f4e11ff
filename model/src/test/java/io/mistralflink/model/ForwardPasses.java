package io.mistralflink.model;

import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Batch invariance, as the property tests check it on either backend mode. */
final class BatchMates {
    private BatchMates() {}

    /**
     * x's logits, prefilled in a chunk of {@code split} tokens, then the rest, then three decode steps, are the same bits
     * alone and between two batch-mates (a, in its prefill and then decoding; b, a new short prompt at every step).
     */
    static void assertIndependent(Shard s, int[] x, int split, int[] a, int[] b, String name) {
        int vocab = s.config().vocabSize();
        try (KvCache alone = s.newCache(); KvCache batched = s.newCache(); KvCache ca = s.newCache(); KvCache cb = s.newCache()) {
            int[][] steps = {Arrays.copyOfRange(x, 0, split), Arrays.copyOfRange(x, split, x.length), {5}, {6}, {7}};
            int pos = 0, posA = 0;
            for (int[] step : steps) {
                float[] single = s.forward(List.of(new Chunk(alone, pos, step, Chunk.Logits.ALL)), null);
                int[] mateA = posA < a.length ? a : new int[]{9};
                List<Chunk> mixed = List.of(new Chunk(ca, posA, mateA, Chunk.Logits.LAST), new Chunk(batched, pos, step, Chunk.Logits.ALL),
                        new Chunk(cb, 0, b, Chunk.Logits.LAST));
                float[] inBatch = s.forward(mixed, null);
                assertArrayEquals(single, Arrays.copyOfRange(inBatch, vocab, vocab + step.length * vocab),
                        name + ": logits at position " + pos + " changed with batch-mates");
                pos += step.length;
                posA += mateA.length;
            }
        }
    }
}
