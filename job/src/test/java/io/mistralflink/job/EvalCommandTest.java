package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code eval}: the Brown documents of the Hugging Face reference replayed through the Flink pipeline (2
 * stages, 2 lanes, steps of at most 256 tokens, so each 1024-token document is fed in many chunks beside
 * another), scoring instead of sampling: every document's perplexity equals transformers' to 0.1%.
 */
@Timeout(300)
class EvalCommandTest {
    @Test void perplexitiesMatchTheReference(@TempDir Path dir) throws Exception {
        List<String> ids = new ArrayList<>();
        Map<String, JsonNode> ref = new HashMap<>();
        for (JsonNode e : TestModels.reference().path("models").path("tiny-mistral").path("eval")) {
            ids.add(e.get("id").asText());
            ref.put(e.get("id").asText(), e);
        }
        Path output = dir.resolve("eval.jsonl");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc = Cli.run(new String[]{"eval", "--model", TestModels.model("tiny-mistral").toString(), "--dataset", TestModels.brown().toString(),
                "--output", output.toString(), "--max-tokens", "1024", "--ids", String.join(",", ids),
                "--stages", "2", "--lanes", "2", "--max-batch-tokens", "256", "--threads", "1", "--quiet"}, new PrintStream(out, true, StandardCharsets.UTF_8));
        assertEquals(0, rc);
        long tokens = 0;
        double nll = 0;
        List<String> lines = Files.readAllLines(output);
        assertEquals(ids.size(), lines.size(), "one line per document");
        for (String line : lines) {
            JsonNode d = Cli.JSON.readTree(line);
            JsonNode e = ref.remove(d.get("id").asText());
            assertNotNull(e, "unexpected or repeated document " + line);
            assertEquals(e.get("tokens").asInt(), d.get("tokens").asInt(), e.get("id") + " tokens");
            double want = e.get("ppl").asDouble();
            assertEquals(want, d.get("perplexity").asDouble(), want * 1e-3, e.get("id") + " perplexity");
            tokens += d.get("tokens").asInt() - 1;
            nll += d.get("nll_sum").asDouble();
        }
        assertTrue(ref.isEmpty(), "missing: " + ref.keySet());
        JsonNode summary = Cli.JSON.readTree(out.toString(StandardCharsets.UTF_8).strip());
        assertEquals(ids.size(), summary.get("documents").asInt());
        assertEquals(tokens, summary.get("tokens_scored").asLong());
        assertEquals(Math.exp(nll / tokens), summary.get("perplexity").asDouble(), 1e-9 * Math.exp(nll / tokens));
    }

    @Test void badDatasetsAndOptionsAreRefusedWithAMessage(@TempDir Path dir) throws Exception {
        String model = TestModels.model("tiny-mistral").toString(), output = dir.resolve("o.jsonl").toString();
        Args.UsageException missing = assertThrows(Args.UsageException.class, () -> Cli.run(new String[]{"eval", "--model", model,
                "--dataset", dir.resolve("nope.jsonl").toString(), "--output", output}, System.out));
        assertTrue(missing.getMessage().contains("nope.jsonl"), missing.getMessage());
        Args.UsageException tokens = assertThrows(Args.UsageException.class, () -> Cli.run(new String[]{"eval", "--model", model,
                "--dataset", TestModels.brown().toString(), "--output", output, "--max-tokens", "1"}, System.out));
        assertTrue(tokens.getMessage().contains("--max-tokens 1"), tokens.getMessage());
        // lines that are not documents are skipped, each with its line number; the others are scored
        Path mixed = dir.resolve("mixed.jsonl");
        Files.writeString(mixed, "{\"id\": \"a\", \"text\": \"The jury said it was fine.\"}\nnot json\n{\"id\": \"b\"}\n");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (var tok = io.mistralflink.model.tokenizer.Tokenizer.load(Path.of(model))) {
            assertEquals(1, EvalCommand.documents(mixed, tok, 2, 1024, null, Integer.MAX_VALUE, new PrintStream(err, true, StandardCharsets.UTF_8)).size());
        }
        String e = err.toString(StandardCharsets.UTF_8);
        assertTrue(e.contains("mixed.jsonl:2: skipped, not JSON") && e.contains("mixed.jsonl:3: skipped, needs"), e);
    }
}
