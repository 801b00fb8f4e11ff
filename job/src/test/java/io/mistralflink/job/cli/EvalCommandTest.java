package io.mistralflink.job.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.Cli;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
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
            JsonNode d = Json.MAPPER.readTree(line);
            JsonNode e = ref.remove(d.get("id").asText());
            assertNotNull(e, "unexpected or repeated document " + line);
            assertEquals(e.get("tokens").asInt(), d.get("tokens").asInt(), e.get("id") + " tokens");
            double want = e.get("ppl").asDouble();
            assertEquals(want, d.get("perplexity").asDouble(), want * 1e-3, e.get("id") + " perplexity");
            tokens += d.get("tokens").asInt() - 1;
            nll += d.get("nll_sum").asDouble();
        }
        assertTrue(ref.isEmpty(), "missing: " + ref.keySet());
        JsonNode summary = Json.MAPPER.readTree(out.toString(StandardCharsets.UTF_8).strip());
        assertEquals(ids.size(), summary.get("documents").asInt());
        assertEquals(tokens, summary.get("tokens_scored").asLong());
        assertEquals(Math.exp(nll / tokens), summary.get("perplexity").asDouble(), 1e-9 * Math.exp(nll / tokens));
    }

    /**
     * {@code --mode continuation}: 6 Brown documents, 40 prompt tokens, 24 greedy tokens each, through 2 stages;
     * every continuation equals the engine alone's for the same prompt, and the agreement with each
     * document's own next tokens is counted as the engine's continuation gives it.
     */
    @Test void continuationsEqualTheEngineAndAreComparedWithTheText(@TempDir Path dir) throws Exception {
        Path model = TestModels.model("tiny-mistral"), output = dir.resolve("cont.jsonl");
        List<String> ids = List.of("ca01", "ca02", "cb01", "cc01", "cd01", "ce01");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc = Cli.run(new String[]{"eval", "--mode", "continuation", "--model", model.toString(), "--dataset", TestModels.brown().toString(),
                "--output", output.toString(), "--prompt-tokens", "40", "--new-tokens", "24", "--ids", String.join(",", ids),
                "--stages", "2", "--lanes", "2", "--threads", "1", "--quiet"}, new PrintStream(out, true, StandardCharsets.UTF_8));
        assertEquals(0, rc);
        List<EvalCommand.Document> docs;
        try (var tok = io.mistralflink.model.tokenizer.Tokenizer.load(model)) {
            docs = EvalCommand.documents(TestModels.brown(), tok, 2, new java.util.HashSet<>(ids), Integer.MAX_VALUE, System.err);
        }
        Map<String, int[]> engine = new HashMap<>();
        try (var b = new io.mistralflink.model.compute.cpu.CpuBackend(1); var c = io.mistralflink.model.weights.Checkpoint.open(model);
             var tok = io.mistralflink.model.tokenizer.Tokenizer.load(model)) {
            List<io.mistralflink.model.generate.Sequence> seqs = new ArrayList<>();
            var greedy = new io.mistralflink.model.sampling.SamplingParams(0f, 1f, 0, 0L, 24, true, List.of(), new int[0]);
            for (EvalCommand.Document d : docs)
                seqs.add(new io.mistralflink.model.generate.Sequence(d.id(), java.util.Arrays.copyOf(d.ids(), 40), greedy, c.config().eosId(), c.config().maxPositions()));
            new io.mistralflink.model.generate.Generator(io.mistralflink.model.layers.Shard.whole(c, b), tok, 512).run(seqs);
            seqs.forEach(s -> engine.put(s.id(), s.generated()));
        }
        long agree = 0;
        for (String line : Files.readAllLines(output)) {
            JsonNode j = Json.MAPPER.readTree(line);
            String id = j.get("id").asText();
            EvalCommand.Document d = docs.stream().filter(x -> x.id().equals(id)).findFirst().orElseThrow();
            int[] generated = Json.MAPPER.treeToValue(j.get("generated"), int[].class), reference = java.util.Arrays.copyOfRange(d.ids(), 40, 64);
            assertArrayEquals(engine.get(id), generated, id + ": the engine's continuation");
            assertArrayEquals(reference, Json.MAPPER.treeToValue(j.get("reference"), int[].class), id + ": the text's own next tokens");
            int same = 0;
            for (int i = 0; i < 24; i++) if (generated[i] == reference[i]) same++;
            assertEquals(same / 24.0, j.get("agreement").asDouble(), 1e-12, id);
            agree += same;
        }
        JsonNode summary = Json.MAPPER.readTree(out.toString(StandardCharsets.UTF_8).strip());
        assertEquals(ids.size(), summary.get("documents").asInt());
        assertEquals(agree / (24.0 * ids.size()), summary.get("agreement").asDouble(), 1e-12);
    }

    @Test void badDatasetsAndOptionsAreRefusedWithAMessage(@TempDir Path dir) throws Exception {
        String model = TestModels.model("tiny-mistral").toString(), output = dir.resolve("o.jsonl").toString();
        UsageException missing = assertThrows(UsageException.class, () -> Cli.run(new String[]{"eval", "--model", model,
                "--dataset", dir.resolve("nope.jsonl").toString(), "--output", output}, System.out));
        assertTrue(missing.getMessage().contains("nope.jsonl"), missing.getMessage());
        UsageException tokens = assertThrows(UsageException.class, () -> Cli.run(new String[]{"eval", "--model", model,
                "--dataset", TestModels.brown().toString(), "--output", output, "--max-tokens", "1"}, System.out));
        assertTrue(tokens.getMessage().contains("--max-tokens 1"), tokens.getMessage());
        UsageException mode = assertThrows(UsageException.class, () -> Cli.run(new String[]{"eval", "--model", model,
                "--dataset", TestModels.brown().toString(), "--output", output, "--mode", "bleu"}, System.out));
        assertTrue(mode.getMessage().contains("--mode bleu"), mode.getMessage());
        // lines that are not documents are skipped, each with its line number; the others are scored
        Path mixed = dir.resolve("mixed.jsonl");
        Files.writeString(mixed, "{\"id\": \"a\", \"text\": \"The jury said it was fine.\"}\nnot json\n{\"id\": \"b\"}\n");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (var tok = io.mistralflink.model.tokenizer.Tokenizer.load(Path.of(model))) {
            assertEquals(1, EvalCommand.documents(mixed, tok, 2, null, Integer.MAX_VALUE, new PrintStream(err, true, StandardCharsets.UTF_8)).size());
        }
        String e = err.toString(StandardCharsets.UTF_8);
        assertTrue(e.contains("mixed.jsonl:2: skipped, not JSON") && e.contains("mixed.jsonl:3: skipped, needs"), e);
    }
}
