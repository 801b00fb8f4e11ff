package io.mistralflink.model;

import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.mistralflink.model.ForwardPasses.*;
import static org.junit.jupiter.api.Assertions.*;

/** Properties of the forward pass that hold whatever the weights: window, chunking, batching, seeding. */
class PropertiesTest {
    private static final CpuBackend backend = new CpuBackend();

    @AfterAll static void close() { backend.close(); }

    /** A narrower window than the checkpoint's, so a short prompt crosses it many times. */
    private static Checkpoint withWindow(Checkpoint c, int window) {
        ModelConfig k = c.config();
        return c.withConfig(new ModelConfig(k.modelType(), k.vocabSize(), k.dim(), k.hiddenDim(), k.layers(), k.heads(), k.kvHeads(),
                k.headDim(), window, true, k.maxPositions(), k.normEps(), k.ropeTheta(), k.experts(), k.expertsPerToken(),
                k.tiedEmbeddings(), k.bosId(), k.eosId()));
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void rollingCacheEqualsFullAttentionWithWindowMask(String name) {
        try (Checkpoint base = Checkpoint.open(TestModels.model(name))) {
            for (int window : new int[]{16, 64}) {
                Checkpoint c = withWindow(base, window);
                int[] ids = randomTokens(5 * window + 3, c.config().vocabSize(), window);
                float[][] want = new NaiveTransformer(c).logits(ids);
                float[] got = chunked(Shard.whole(c, backend), ids, window);
                int vocab = c.config().vocabSize();
                double worst = 0;
                for (int i = 0; i < ids.length; i++)
                    for (int v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(want[i][v] - got[i * vocab + v]));
                assertTrue(worst < 1e-3, name + " W=" + window + ": rolling cache differs from masked full attention by " + worst);
            }
        }
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void chunkedPrefillEqualsOnePass(String name) {
        try (Checkpoint base = Checkpoint.open(TestModels.model(name))) {
            Checkpoint c = withWindow(base, 32);
            Shard s = Shard.whole(c, backend);
            int[] ids = randomTokens(150, c.config().vocabSize(), 7);
            float[] whole = onePass(s, ids);
            for (int chunk : new int[]{1, 7, 32}) {
                float[] parts = chunked(s, ids, chunk);
                double worst = 0;
                for (int i = 0; i < whole.length; i++) worst = Math.max(worst, Math.abs(whole[i] - parts[i]));
                assertTrue(worst < 1e-4, name + " chunk " + chunk + " differs from one pass by " + worst);
            }
        }
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void aSequenceDoesNotDependOnItsBatchMates(String name) {
        try (Checkpoint c = Checkpoint.open(TestModels.model(name))) {
            Shard s = Shard.whole(c, backend);
            int vocab = c.config().vocabSize();
            int[] x = randomTokens(90, vocab, 1), a = randomTokens(37, vocab, 2), b = randomTokens(5, vocab, 3);
            // a prefill chunk of 64, then the remaining 26, then three decode steps: alone and beside others
            assertBatchMatesChangeNothing(s, x, 64, a, b, name);
        }
    }

    @Test void seededSamplingIsReproducibleAndBatchIndependent() {
        try (Checkpoint c = Checkpoint.open(TestModels.model("tiny-mistral")); Tokenizer tok = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            Shard s = Shard.whole(c, backend);
            ModelConfig k = c.config();
            int[] prompt = tok.encode("The jury said");
            SamplingParams p42 = new SamplingParams(0.9f, 0.95f, 50, 42, 30, true, List.of(), new int[0]);
            SamplingParams p7 = new SamplingParams(0.9f, 0.95f, 50, 7, 30, true, List.of(), new int[0]);
            Sequence a = new Sequence("a", prompt, p42, k.eosId(), k.maxPositions());
            Sequence b = new Sequence("b", prompt, p42, k.eosId(), k.maxPositions());
            Sequence other = new Sequence("o", prompt, p7, k.eosId(), k.maxPositions());
            Sequence mate = new Sequence("m", tok.encode("In the morning, the president of the company"), p7, k.eosId(), k.maxPositions());
            Generator g = new Generator(s, tok, 256);
            g.run(List.of(a));
            g.run(List.of(mate, b, other));
            assertArrayEquals(a.generated(), b.generated(), "same seed, alone and in a batch");
            assertFalse(Arrays.equals(a.generated(), other.generated()), "another seed draws another text");
            assertEquals(30, a.generatedCount());
        }
    }

    @Test void topKOneAndTinyTopPAreGreedy() {
        try (Checkpoint c = Checkpoint.open(TestModels.model("tiny-mistral")); Tokenizer tok = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            Shard s = Shard.whole(c, backend);
            ModelConfig k = c.config();
            int[] prompt = tok.encode("Mr. Smith went to Washington to");
            List<Sequence> seqs = new ArrayList<>();
            for (SamplingParams p : List.of(SamplingParams.greedy(20),
                    new SamplingParams(1.3f, 1f, 1, 5, 20, false, List.of(), new int[0]),
                    new SamplingParams(1.3f, 1e-6f, 0, 5, 20, false, List.of(), new int[0])))
                seqs.add(new Sequence("s" + seqs.size(), prompt, p, k.eosId(), k.maxPositions()));
            new Generator(s, tok, 256).run(seqs);
            assertArrayEquals(seqs.get(0).generated(), seqs.get(1).generated());
            assertArrayEquals(seqs.get(0).generated(), seqs.get(2).generated());
        }
    }

    @Test void stopsOnStopStringsTokenIdsAndLength() {
        try (Checkpoint c = Checkpoint.open(TestModels.model("tiny-mistral")); Tokenizer tok = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            Shard s = Shard.whole(c, backend);
            ModelConfig k = c.config();
            int[] prompt = tok.encode("The jury said");
            Sequence free = new Sequence("free", prompt, new SamplingParams(0f, 1f, 0, 0, 40, true, List.of(), new int[0]), k.eosId(), k.maxPositions());
            new Generator(s, tok, 256).run(List.of(free));
            String text = free.text();
            String stop = text.substring(10, 14);
            int third = free.generated()[2];
            Sequence byString = new Sequence("s", prompt, new SamplingParams(0f, 1f, 0, 0, 40, true, List.of(stop), new int[0]), k.eosId(), k.maxPositions());
            Sequence byId = new Sequence("i", prompt, new SamplingParams(0f, 1f, 0, 0, 40, true, List.of(), new int[]{third}), k.eosId(), k.maxPositions());
            new Generator(s, tok, 256).run(List.of(byString, byId));
            assertEquals(text.substring(0, text.indexOf(stop)), byString.text());
            assertEquals("stop", byString.finishReason().wire());
            int firstThird = 0;
            while (free.generated()[firstThird] != third) firstThird++;
            assertEquals(firstThird + 1, byId.generatedCount());
            assertEquals("stop", byId.finishReason().wire());
            assertEquals("length", free.finishReason().wire());
        }
    }
}
