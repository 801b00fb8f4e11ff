package io.mistralflink.model;

import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Forward passes the property tests compare, on either backend mode: in one pass, in chunks, beside batch-mates. */
final class ForwardPasses {
    private ForwardPasses() {}

    /** BOS, then n - 1 random ids of the vocabulary past the special ones. */
    static int[] randomTokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        ids[0] = 1;
        for (int i = 1; i < n; i++) ids[i] = 3 + r.nextInt(vocab - 3);
        return ids;
    }

    /** Every position's logits, the prompt prefilled in one chunk. */
    static float[] onePass(Shard s, int[] ids) {
        try (KvCache cache = s.newCache()) { return s.forward(List.of(new Chunk(cache, 0, ids, Chunk.Logits.ALL)), null); }
    }

    /** Every position's logits, the prompt prefilled in chunks of {@code chunk} tokens. */
    static float[] chunked(Shard s, int[] ids, int chunk) {
        int vocab = s.config().vocabSize();
        float[] all = new float[ids.length * vocab];
        try (KvCache cache = s.newCache()) {
            for (int start = 0; start < ids.length; start += chunk) {
                int[] t = Arrays.copyOfRange(ids, start, Math.min(ids.length, start + chunk));
                System.arraycopy(s.forward(List.of(new Chunk(cache, start, t, Chunk.Logits.ALL)), null), 0, all, start * vocab, t.length * vocab);
            }
        }
        return all;
    }

    /**
     * x's logits, prefilled in a chunk of {@code split} tokens, then the rest, then three decode steps, are the same bits
     * alone and between two batch-mates (a, in its prefill and then decoding; b, a new short prompt at every step).
     */
    static void assertBatchMatesChangeNothing(Shard s, int[] x, int split, int[] a, int[] b, String name) {
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
