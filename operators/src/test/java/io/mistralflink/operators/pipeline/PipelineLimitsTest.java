package io.mistralflink.operators.pipeline;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class PipelineLimitsTest {
    @Test void cachesAreReleasedAfterAThousandRequests() throws Exception {
        List<InferenceRequest> reqs = new ArrayList<>();
        String[] words = {"The", "jury", "said", "it", "did", "find", "that", "many", "of", "Georgia's"};
        for (int i = 0; i < 1000; i++) {
            StringBuilder p = new StringBuilder();
            for (int w = 0; w <= i % 9; w++) p.append(words[(i + w) % words.length]).append(' ');
            reqs.add(new InferenceRequest("r" + i, p.toString().trim(), SamplingParams.greedy(1 + i % 3), Map.of(), 0));
        }
        PipelineConfig cfg = PipelineConfig.defaults(TestModels.model("tiny-mistral").toString())
                .withStages(2).withLanes(4).withSequencesPerLane(16).withThreadsPerStage(1);
        List<CompletionResult> got = PipelineHarness.run(reqs, cfg, 1);
        assertEquals(1000, got.size());
        assertEquals(1000, got.stream().map(CompletionResult::id).distinct().count());
        assertTrue(got.stream().allMatch(c -> c.error() == null));
        assertEquals(0, StageFunction.liveCaches(), "stage state holds no cache once every sequence is done");
    }

    @Test void invalidCombinationsAreRejectedBeforeTheJobStarts() {
        ModelConfig m = ModelConfig.load(TestModels.model("tiny-mistral"));
        PipelineConfig ok = PipelineConfig.defaults("x");
        assertDoesNotThrow(() -> ok.validate(m));
        assertArrayEquals(new int[]{0, 3, 6}, ok.withStages(2).boundaries(m));
        assertArrayEquals(new int[]{0, 2, 4, 5, 6}, ok.withStages(4).boundaries(m));
        for (PipelineConfig bad : List.of(ok.withStages(7), ok.withStages(0), ok.withLanes(0), ok.withParallelism(0),
                ok.withLayerSplit(new int[]{0, 4, 3, 6}), ok.withLayerSplit(new int[]{1, 6}), ok.withMaxBatchTokens(4),
                ok.withBufferTimeout(-1), ok.withDevice("tpu"), ok.withDevice("cuda:0,x")))
            assertThrows(IllegalArgumentException.class, () -> bad.validate(m), bad.toString());
        assertDoesNotThrow(() -> ok.withStages(2).withDevice("cuda:0,1").validate(m));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ok.withStages(9).validate(m));
        assertTrue(e.getMessage().contains("stages 9 exceed the model's 6 layers"), e.getMessage());
    }
}
