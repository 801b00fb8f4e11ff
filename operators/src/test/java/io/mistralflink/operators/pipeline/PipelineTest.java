package io.mistralflink.operators.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pipeline on a real MiniCluster against the engine alone: every completion equals what the
 * engine generates for the same request, whatever the number of stages, lanes or TaskManagers.
 */
class PipelineTest {
    private static final Map<String, List<InferenceRequest>> REQUESTS = new HashMap<>();
    private static final Map<String, Map<String, Sequence>> ORACLE = new HashMap<>();

    /** Mixed requests from Brown text: short and long prompts (several past the 64-token window), greedy and seeded. */
    static synchronized List<InferenceRequest> requests(String model, int n) throws Exception {
        return REQUESTS.computeIfAbsent(model + n, k -> {
            try {
                List<String> paragraphs = new ArrayList<>();
                try (var in = new BufferedReader(new InputStreamReader(new XZInputStream(Files.newInputStream(TestModels.brown())), StandardCharsets.UTF_8))) {
                    ObjectMapper om = new ObjectMapper();
                    for (String line; (line = in.readLine()) != null && paragraphs.size() < 4 * n; )
                        for (String p : om.readTree(line).get("text").asText().split("\n")) if (p.length() > 20) paragraphs.add(p);
                }
                SplittableRandom r = new SplittableRandom(11);
                List<InferenceRequest> out = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    String p = paragraphs.get(r.nextInt(paragraphs.size()));
                    int chars = i % 7 == 0 ? Math.min(p.length(), 600) : Math.min(p.length(), 10 + r.nextInt(150));
                    SamplingParams params = i % 2 == 0
                            ? new SamplingParams(0f, 1f, 0, 0, 1 + r.nextInt(16), i % 3 == 0, List.of(), new int[0])
                            : new SamplingParams(0.8f, 0.9f, 40, 1000 + i, 1 + r.nextInt(16), false, i % 5 == 1 ? List.of(" the") : List.of(), new int[0]);
                    out.add(new InferenceRequest("req-" + i, p.substring(0, chars), params, Map.of("n", Integer.toString(i)), 0));
                }
                return out;
            } catch (Exception e) { throw new RuntimeException(e); }
        });
    }

    /** What the engine alone generates for each request. */
    static synchronized Map<String, Sequence> oracle(String model, int n) throws Exception {
        Map<String, Sequence> o = ORACLE.get(model + n);
        if (o != null) return o;
        o = new HashMap<>();
        try (CpuBackend b = new CpuBackend(); Checkpoint c = Checkpoint.open(TestModels.model(model)); Tokenizer tok = Tokenizer.load(TestModels.model(model))) {
            ModelConfig k = c.config();
            List<Sequence> seqs = new ArrayList<>();
            for (InferenceRequest q : requests(model, n)) {
                Sequence s = new Sequence(q.id(), tok.encode(q.prompt()), q.params(), k.eosId(), k.maxPositions());
                seqs.add(s);
                o.put(q.id(), s);
            }
            new Generator(Shard.whole(c, b), tok, 512).run(seqs);
        }
        ORACLE.put(model + n, o);
        return o;
    }

    static void assertMatchesEngine(String model, int n, List<CompletionResult> got) throws Exception {
        Map<String, Sequence> want = oracle(model, n);
        assertEquals(n, got.size(), "one completion per request");
        for (CompletionResult c : got) {
            Sequence s = want.get(c.id());
            assertNotNull(s, "unknown id " + c.id());
            assertNull(c.error(), c.id() + " refused: " + c.error());
            assertArrayEquals(s.generated(), c.completionIds(), c.id() + " tokens");
            assertEquals(s.text(), c.text(), c.id() + " text");
            assertEquals(s.finishReason().wire(), c.finishReason(), c.id() + " finish reason");
            assertEquals(s.promptLength(), c.promptTokens(), c.id() + " prompt tokens");
        }
        assertEquals(n, got.stream().map(CompletionResult::id).distinct().count(), "no request answered twice");
    }

    @ParameterizedTest(name = "{0} P={1} L={2}")
    @CsvSource({"tiny-mistral,1,1", "tiny-mistral,2,4", "tiny-mistral,3,1", "tiny-mistral,1,4", "tiny-mistral,2,1", "tiny-mistral,3,4",
            "tiny-mixtral,1,4", "tiny-mixtral,2,1", "tiny-mixtral,3,4", "tiny-mixtral,1,1", "tiny-mixtral,2,4", "tiny-mixtral,3,1"})
    void completionsEqualTheEngineAlone(String model, int stages, int lanes) throws Exception {
        int n = 200;
        PipelineConfig cfg = PipelineConfig.builder(TestModels.model(model).toString())
                .stages(stages).lanes(lanes).sequencesPerLane(8).maxBatchTokens(256).threadsPerStage(1).build();
        assertMatchesEngine(model, n, PipelineHarness.run(requests(model, n), cfg, 1));
        assertEquals(0, StageFunction.liveCaches(), "every cache released");
    }

    /**
     * Scoring instead of sampling (eval): texts past the 64-token window, fed in steps of at most 48 tokens
     * over 2 stages and 2 lanes; each text's summed loss equals the engine's {@link Scorer} (chunks of the
     * window, one text at a time). A request to generate in this scoring job is refused with its reason.
     */
    @Test void scoresEqualTheEngineAlone() throws Exception {
        String model = "tiny-mistral";
        List<InferenceRequest> reqs = new ArrayList<>();
        Map<String, Double> want = new HashMap<>();
        try (CpuBackend b = new CpuBackend(); Checkpoint c = Checkpoint.open(TestModels.model(model)); Tokenizer tok = Tokenizer.load(TestModels.model(model))) {
            Scorer scorer = new Scorer(Shard.whole(c, b));
            for (InferenceRequest q : requests(model, 24)) {
                int[] ids = tok.encode(q.prompt());
                if (ids.length < 2) continue;
                reqs.add(new InferenceRequest(q.id(), "", null, Map.of(), 0, ids, null, true));
                want.put(q.id(), scorer.score(ids).nllSum());
            }
        }
        InferenceRequest g = requests(model, 24).get(0);   // a generation request, in a job whose first request scores
        reqs.add(new InferenceRequest("generate-0", g.prompt(), g.params(), Map.of(), 0));
        PipelineConfig cfg = PipelineConfig.builder(TestModels.model(model).toString())
                .stages(2).lanes(2).sequencesPerLane(4).maxBatchTokens(48).threadsPerStage(1).build();
        List<CompletionResult> got = PipelineHarness.run(reqs, cfg, 1);
        assertEquals(reqs.size(), got.size(), "one result per request");
        assertEquals(reqs.size(), got.stream().map(CompletionResult::id).distinct().count(), "no request answered twice");
        for (CompletionResult r : got) {
            if (r.error() != null) {
                assertEquals("generate-0", r.id(), "refused: " + r.error());
                assertTrue(r.error().contains("scores texts"), r.error());
                continue;
            }
            double w = want.get(r.id());
            assertEquals("scored", r.finishReason(), r.id());
            assertEquals(w, r.nll(), Math.abs(w) * 1e-9, r.id() + " summed loss");
        }
        assertEquals(0, StageFunction.liveCaches(), "every cache released");
    }

    @Test void stagesOnTwoTaskManagersCrossTheNetwork() throws Exception {
        PipelineConfig cfg = PipelineConfig.builder(TestModels.model("tiny-mistral").toString())
                .stages(2).lanes(2).sequencesPerLane(8).parallelism(2).threadsPerStage(1).build();
        assertMatchesEngine("tiny-mistral", 60, PipelineHarness.run(requests("tiny-mistral", 60), cfg, 2));
    }
}
