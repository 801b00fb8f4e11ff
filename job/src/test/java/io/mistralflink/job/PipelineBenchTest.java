package io.mistralflink.job;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.common.Json;
import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * bench-pipeline end to end on a MiniCluster: its source holds the measured requests back until the
 * warm-up request's completion has come back through the collect sink, for a chained single stage and
 * for two stages in their own tasks. A gate the job could not open (the source chained to the
 * scheduler, say) would hang here until the timeout. The stages' busy times (their StepClocks, read
 * through the metric reporter) obey what a pipeline of one lane must: a stage is never busier than the
 * window, and with one lane only one stage holds the step at a time, so the two stages' busy shares sum
 * to at most the window; a second lane lets them overlap, so the sum rises. The requests, sent together,
 * join one step: one chained stage takes as many steps as the engine alone.
 */
class PipelineBenchTest {
    @Test @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void measuresEachConfigurationAfterTheWarmUp() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code = Cli.run(new String[]{"bench-pipeline", "--model", TestModels.model("tiny-mistral").toString(), "--requests", "6",
                "--prompt-tokens", "12", "--new-tokens", "16", "--stages", "1,2", "--lanes", "1,2", "--threads", "1"},
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertEquals(0, code);
        String[] lines = bytes.toString(StandardCharsets.UTF_8).strip().split("\n");
        System.out.println(String.join("\n", lines));
        JsonNode report = Json.MAPPER.readTree(lines[lines.length - 1]);
        assertTrue(report.get("engine_tok_s").asDouble() > 0, report.toString());
        assertEquals(4, report.get("pipeline").size(), report.toString());
        double[][] busySum = new double[3][3];
        for (JsonNode row : report.get("pipeline")) {
            assertTrue(row.get("tok_s").asDouble() > 0, row.toString());
            int p = row.get("stages").asInt(), l = row.get("lanes").asInt(), stages = 0;
            double window = row.get("window_s").asDouble() * 1e3; // ms
            for (JsonNode t : row.get("times")) {
                Map<String, Double> us = Json.MAPPER.convertValue(t.get("per_step_us"), new TypeReference<>() {});
                long steps = t.get("steps").asLong();
                assertTrue(steps > 0, t.toString());
                if (t.get("operator").asText().equals("scheduler")) {
                    assertEquals(Set.of("encode", "feedback", "tokens", "admission"), us.keySet(), t.toString());
                    continue;
                }
                stages++;
                double busy = t.get("busy_fraction").asDouble();
                // the window is timed in whole milliseconds, the busy time in nanoseconds
                assertTrue(busy > 0 && busy <= 1 + 2 / window, busy + " of " + window + " ms: " + t);
                assertTrue(us.get("engine") + us.get("decode") + us.get("encode") + us.get("emit") <= us.get("busy") + 0.3, t.toString()); // each rounded to 0.1 us
                // up to its hand-off: from there on the next stage may already work
                busySum[p][l] += busy - us.get("emit") * steps / (window * 1e3);
            }
            assertEquals(p, stages, row.toString());
        }
        // One lane: the stages take its steps in turn, so their busy shares up to their hand-offs add up to
        // the window at most (busy time to the step's end overlapped on a loaded machine, a stage's thread
        // preempted after handing its frame on: 1.235-1.261 in two runs of many). Counted all the same, two
        // steps that only free caches, the warm-up's before the window and the last one's after it: with 16
        // new tokens, 2 of about 18 steps a stage.
        assertTrue(busySum[2][1] <= 1 + 4 / (report.get("pipeline").get(2).get("window_s").asDouble() * 1e3), "one lane: " + Arrays.deepToString(busySum));
        assertTrue(busySum[2][2] > busySum[2][1], "two lanes overlap the stages: " + Arrays.deepToString(busySum));
        // requests that arrive together join one step (the admission linger), so one chained stage with one
        // lane takes the engine alone's steps (give or take one for a late arrival)
        long chained = report.get("pipeline").get(0).get("times").findValues("steps").stream().mapToLong(JsonNode::asLong).max().orElseThrow();
        assertTrue(chained <= report.get("engine_steps").asLong() + 1, chained + " steps, the engine alone " + report.get("engine_steps"));
    }
}
