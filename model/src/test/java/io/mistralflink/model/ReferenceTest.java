package io.mistralflink.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The engine against Hugging Face transformers' own numbers for the example checkpoints. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ReferenceTest {
    private final Map<String, Engine> engines = new HashMap<>();
    private CpuBackend backend;

    record Engine(Checkpoint ckpt, Shard model, Tokenizer tokenizer, Scorer scorer) {}

    @BeforeAll void load() {
        backend = new CpuBackend();
        for (String name : List.of("tiny-mistral", "tiny-mixtral")) {
            Checkpoint c = Checkpoint.open(TestModels.model(name));
            Shard s = Shard.whole(c, backend);
            engines.put(name, new Engine(c, s, Tokenizer.load(TestModels.model(name)), new Scorer(s)));
        }
    }

    @AfterAll void close() {
        engines.values().forEach(e -> { e.tokenizer.close(); e.ckpt.close(); });
        backend.close();
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void logitsNllAndArgmaxMatchEveryPrompt(String name) {
        Engine e = engines.get(name);
        int vocab = e.model.config().vocabSize();
        for (JsonNode p : TestModels.reference().path("models").path(name).path("prompts")) {
            int[] ids = TestModels.ints(p.get("input_ids"));
            assertArrayEquals(ids, e.tokenizer.encode(p.get("prompt").asText()), "tokenization of " + p.get("prompt"));
            Scorer.Scores s = e.scorer.score(ids);
            int[] argmax = TestModels.ints(p.get("argmax"));
            double[] nll = TestModels.doubles(p.get("nll"));
            double[] last = TestModels.doubles(p.get("last_logits"));
            for (int i = 0; i < ids.length; i++) assertEquals(argmax[i], s.argmax()[i], name + " argmax at position " + i);
            for (int i = 0; i < nll.length; i++) assertEquals(nll[i], s.nll()[i], 1e-3, name + " nll at position " + i);
            float[] ours = s.lastLogits();
            double worst = 0;
            for (int v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(ours[v] - last[v]));
            assertTrue(worst <= 1e-3, name + " last logits differ by " + worst);
        }
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void greedyContinuationsMatch(String name) {
        Engine e = engines.get(name);
        ModelConfig c = e.model.config();
        List<JsonNode> prompts = new java.util.ArrayList<>();
        TestModels.reference().path("models").path(name).path("prompts").forEach(prompts::add);
        SamplingParams greedy = new SamplingParams(0f, 1f, 0, 0, 40, true, List.of(), new int[0]);
        List<Sequence> seqs = prompts.stream()
                .map(p -> new Sequence(p.get("prompt").asText(), TestModels.ints(p.get("input_ids")), greedy, c.eosId(), c.maxPositions()))
                .toList();
        new Generator(e.model, e.tokenizer, 256).run(seqs);
        for (int i = 0; i < seqs.size(); i++) {
            assertArrayEquals(TestModels.ints(prompts.get(i).get("greedy_ids")), seqs.get(i).generated(), name + " greedy ids of prompt " + i);
            assertEquals(prompts.get(i).get("greedy_text").asText(), seqs.get(i).text(), name + " greedy text of prompt " + i);
        }
    }
}
