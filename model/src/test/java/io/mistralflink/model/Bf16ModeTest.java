package io.mistralflink.model;

import io.mistralflink.model.bench.RandomCheckpoint;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the opt-in bf16 mode ({@code cpu:bf16}) promises beside its speed: a sequence's logits are the same
 * bits alone and beside batch-mates, and prefilled in chunks of any size or in one pass. On random models
 * whose matrices are large enough to go to oneDNN (1,024 wide; the tiny checkpoints' layers stay on the
 * float32 path), one dense and one with a mixture of experts (each expert gets a varying number of rows).
 * Skipped where oneDNN has no bf16 kernel.
 */
class Bf16ModeTest {
    private static final CpuBackend backend = new CpuBackend(2, true);

    @AfterAll static void close() { backend.close(); }

    private static Checkpoint model(String type) {
        boolean moe = type.equals("mixtral");
        return RandomCheckpoint.build(new ModelConfig(type, 4096, 1024, 2816, 2, 8, 2, 128, 32, true, 8192, 1e-5f, 10000.0,
                moe ? 4 : 0, moe ? 2 : 0, false, 1, 2), 5);
    }

    private static int[] tokens(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        ids[0] = 1;
        for (int i = 1; i < n; i++) ids[i] = 3 + r.nextInt(4093);
        return ids;
    }

    @ParameterizedTest @ValueSource(strings = {"mistral", "mixtral"})
    void aSequenceDoesNotDependOnItsBatchMatesOrItsChunks(String type) {
        assumeTrue(backend.name().contains("oneDNN"), "oneDNN bf16 unavailable here");
        try (Checkpoint c = model(type)) {
            Shard s = Shard.whole(c, backend);
            int vocab = c.config().vocabSize();
            int[] x = tokens(45, 1), a = tokens(19, 2), b = tokens(3, 3);
            float[] onePass;
            try (KvCache cache = s.newCache()) { onePass = s.forward(List.of(new Chunk(cache, 0, x, Chunk.Logits.ALL)), null); }
            for (int chunk : new int[]{1, 7, 32}) {
                float[] parts = new float[onePass.length];
                try (KvCache cache = s.newCache()) {
                    for (int start = 0; start < x.length; start += chunk) {
                        int[] t = Arrays.copyOfRange(x, start, Math.min(x.length, start + chunk));
                        System.arraycopy(s.forward(List.of(new Chunk(cache, start, t, Chunk.Logits.ALL)), null), 0, parts, start * vocab, t.length * vocab);
                    }
                }
                assertArrayEquals(onePass, parts, type + ": chunks of " + chunk + " differ from one pass");
            }
            // a prefill chunk of 32 (the window), the remaining 13, then decode steps of one row: alone and beside others
            BatchMates.assertIndependent(s, x, 32, a, b, type);
        }
    }
}
