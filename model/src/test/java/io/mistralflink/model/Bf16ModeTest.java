package io.mistralflink.model;

import io.mistralflink.model.bench.RandomCheckpoint;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static io.mistralflink.model.ForwardPasses.*;
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

    @ParameterizedTest @ValueSource(strings = {"mistral", "mixtral"})
    void aSequenceDoesNotDependOnItsBatchMatesOrItsChunks(String type) {
        assumeTrue(backend.name().contains("oneDNN"), "oneDNN bf16 unavailable here");
        try (Checkpoint c = model(type)) {
            Shard s = Shard.whole(c, backend);
            int vocab = c.config().vocabSize();
            int[] x = randomTokens(45, vocab, 1), a = randomTokens(19, vocab, 2), b = randomTokens(3, vocab, 3);
            float[] whole = onePass(s, x);
            for (int chunk : new int[]{1, 7, 32})
                assertArrayEquals(whole, chunked(s, x, chunk), type + ": chunks of " + chunk + " differ from one pass");
            // a prefill chunk of 32 (the window), the remaining 13, then decode steps of one row: alone and beside others
            assertBatchMatesChangeNothing(s, x, 32, a, b, type);
        }
    }
}
