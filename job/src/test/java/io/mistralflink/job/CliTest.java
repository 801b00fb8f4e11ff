package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.ModelException;
import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/** The command-line contract of generate, score and bench, checked against the Hugging Face reference. */
class CliTest {
    private static JsonNode runJson(String... args) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(0, Cli.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8)));
        return Json.MAPPER.readTree(buf.toString(StandardCharsets.UTF_8));
    }

    @Test void generateJsonMatchesTheReferenceGreedyContinuation() throws Exception {
        JsonNode ref = TestModels.reference().path("models").path("tiny-mixtral").path("prompts").get(1);
        JsonNode out = runJson("generate", "--model", TestModels.model("tiny-mixtral").toString(), "--prompt", ref.get("prompt").asText(),
                "--max-new-tokens", "40", "--ignore-eos", "--json");
        assertEquals(ref.get("input_ids"), out.get("prompt_ids"));
        assertEquals(ref.get("greedy_ids"), out.get("completion_ids"));
        assertEquals(ref.get("greedy_text").asText(), out.get("text").asText());
        assertEquals("length", out.get("finish_reason").asText());
        for (String t : new String[]{"load_ms", "prefill_ms", "decode_ms"}) assertTrue(out.path("timings").path(t).asDouble() > 0, t);
    }

    @Test void scoreJsonMatchesTheReferenceNll() throws Exception {
        JsonNode ref = TestModels.reference().path("models").path("tiny-mistral").path("prompts").get(0);
        JsonNode out = runJson("score", "--model", TestModels.model("tiny-mistral").toString(), "--text", ref.get("prompt").asText(), "--json");
        assertEquals(ref.get("input_ids"), out.get("input_ids"));
        for (int i = 0; i < ref.get("nll").size(); i++)
            assertEquals(ref.get("nll").get(i).asDouble(), out.get("nll").get(i).asDouble(), 1e-3, "nll " + i);
        assertEquals(4096, out.get("last_logits").size());
    }

    @Test void benchReportsEveryBatchSize() throws Exception {
        JsonNode out = runJson("bench", "--random-model", "tiny-mistral", "--layers", "2", "--batch-sizes", "1,3",
                "--prompt-tokens", "8", "--new-tokens", "4", "--json");
        assertEquals(2, out.get("results").size());
        assertEquals(3, out.get("results").get(1).get("batch").asInt());
        for (JsonNode r : out.get("results")) {
            assertTrue(r.get("prefill_tok_s").asDouble() > 0);
            assertTrue(r.get("decode_tok_s").asDouble() > 0);
            assertTrue(r.has("prefill_gflop_s"), "prefill GFLOP/s beside tok/s");
        }
        assertTrue(out.get("fp32_fma_peak_gflop_s").asDouble() > 0, "the CPU's measured FMA peak is reported");
    }

    @Test void badArgumentsAndInputsAreRefusedWithAMessage() {
        String model = TestModels.model("tiny-mistral").toString();
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"generate", "--model", model}, System.out));
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"generate", "--model", model, "--prompt", "x", "--bogus", "1"}, System.out));
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"generate", "--model", model, "--prompt", "x", "--top-p", "1.5"}, System.out));
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"generate", "--model", model, "--prompt", "x", "--max-new-tokens", "ten"}, System.out));
        assertThrows(ModelException.class, () -> Cli.run(new String[]{"bench", "--random-model", "gpt-9"}, System.out));
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"frobnicate"}, System.out));
        // a GPU list is for the pipeline's stages: the engine alone refuses it, naming it
        UsageException list = assertThrows(UsageException.class,
                () -> Cli.run(new String[]{"generate", "--model", model, "--prompt", "x", "--device", "cuda:0,1"}, System.out));
        assertTrue(list.getMessage().contains("--device cuda:0,1") && list.getMessage().contains("pipeline stages"), list.getMessage());
        ModelException e = assertThrows(ModelException.class, () -> Cli.run(new String[]{"score", "--model", "/no/such/dir", "--text", "x", "--json"}, System.out));
        assertTrue(e.getMessage().contains("/no/such/dir"));
    }
}
