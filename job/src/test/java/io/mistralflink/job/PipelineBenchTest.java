package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.common.Json;
import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * bench-pipeline end to end on a MiniCluster: its source holds the measured requests back until the
 * warm-up request's completion has come back through the collect sink, for a chained single stage and
 * for two stages in their own tasks. A gate the job could not open (the source chained to the
 * scheduler, say) would hang here until the timeout.
 */
class PipelineBenchTest {
    @Test @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void measuresEachConfigurationAfterTheWarmUp() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code = Cli.run(new String[]{"bench-pipeline", "--model", TestModels.model("tiny-mistral").toString(), "--requests", "6",
                "--prompt-tokens", "12", "--new-tokens", "5", "--stages", "1,2", "--lanes", "1,2", "--threads", "1"},
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertEquals(0, code);
        String[] lines = bytes.toString(StandardCharsets.UTF_8).strip().split("\n");
        JsonNode report = Json.MAPPER.readTree(lines[lines.length - 1]);
        assertTrue(report.get("engine_tok_s").asDouble() > 0, report.toString());
        assertEquals(4, report.get("pipeline").size(), report.toString());
        for (JsonNode row : report.get("pipeline")) assertTrue(row.get("tok_s").asDouble() > 0, row.toString());
    }
}
