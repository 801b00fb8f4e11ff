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
        PipelineConfig cfg = PipelineConfig.builder(TestModels.model("tiny-mistral").toString())
                .stages(2).lanes(4).sequencesPerLane(16).threadsPerStage(1).build();
        List<CompletionResult> got = PipelineHarness.run(reqs, cfg, 1);
        assertEquals(1000, got.size());
        assertEquals(1000, got.stream().map(CompletionResult::id).distinct().count());
        assertTrue(got.stream().allMatch(c -> c.error() == null));
        assertEquals(0, StageFunction.liveCaches(), "stage state holds no cache once every sequence is done");
    }

    @Test void invalidCombinationsAreRejectedBeforeTheJobStarts() {
        ModelConfig m = ModelConfig.load(TestModels.model("tiny-mistral"));
        PipelineConfig ok = PipelineConfig.builder("x").build();
        assertDoesNotThrow(() -> ok.validate(m));
        assertArrayEquals(new int[]{0, 3, 6}, ok.toBuilder().stages(2).build().boundaries(m));
        assertArrayEquals(new int[]{0, 2, 4, 5, 6}, ok.toBuilder().stages(4).build().boundaries(m));
        for (PipelineConfig.Builder bad : List.of(ok.toBuilder().stages(7), ok.toBuilder().stages(0), ok.toBuilder().lanes(0),
                ok.toBuilder().parallelism(0), ok.toBuilder().layerSplit(new int[]{0, 4, 3, 6}), ok.toBuilder().layerSplit(new int[]{1, 6}),
                ok.toBuilder().maxBatchTokens(4), ok.toBuilder().bufferTimeoutMs(-1), ok.toBuilder().device("tpu"), ok.toBuilder().device("cuda:0,x")))
            assertThrows(IllegalArgumentException.class, () -> bad.build().validate(m), bad.build().toString());
        assertDoesNotThrow(() -> ok.toBuilder().stages(2).device("cuda:0,1").build().validate(m));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ok.toBuilder().stages(9).build().validate(m));
        assertTrue(e.getMessage().contains("stages 9 exceed the model's 6 layers"), e.getMessage());
    }

    /** The builder holds each default once; a copy keeps every setting; the step budget follows the device unless set. */
    @Test void aBuilderCopiesEverySettingAndTheStepBudgetFollowsTheDevice() {
        PipelineConfig d = PipelineConfig.builder("x").build();
        assertEquals(List.of(1, 2, 16, 1, 0L, "cpu", 0), List.of(d.stages(), d.lanes(), d.sequencesPerLane(), d.parallelism(), d.bufferTimeoutMs(),
                d.device(), d.threadsPerStage()));
        assertNull(d.layerSplit());
        assertEquals(io.mistralflink.model.compute.Backends.CPU_STEP_TOKENS, d.maxBatchTokens());
        assertEquals(io.mistralflink.model.compute.Backends.GPU_STEP_TOKENS, PipelineConfig.builder("x").device("cuda:1").build().maxBatchTokens());
        PipelineConfig c = PipelineConfig.builder("m").layerSplit(new int[]{0, 2, 6}).lanes(3).sequencesPerLane(5).maxBatchTokens(77)
                .parallelism(2).bufferTimeoutMs(9).device("cuda:0,1").threadsPerStage(4).build();
        PipelineConfig copy = c.toBuilder().build();
        assertArrayEquals(c.layerSplit(), copy.layerSplit());
        assertEquals(c.toString().replaceAll("\\[I@\\w+", ""), copy.toString().replaceAll("\\[I@\\w+", ""));
        assertEquals(2, copy.stages());
        assertNull(c.toBuilder().stages(3).build().layerSplit(), "an even split of P stages replaces a given split");
    }
}
