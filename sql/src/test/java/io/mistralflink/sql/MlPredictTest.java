package io.mistralflink.sql;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.model.EngineOracle;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.ChatTemplate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * ML_PREDICT through the provider on a MiniCluster (the {@code sql} command's runner), against the engine
 * alone ({@link EngineOracle}) as the oracle: every row's tokens, text and finish reason.
 */
class MlPredictTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    static String model(Path dir, String extraOptions) {
        return "CREATE TEMPORARY MODEL llm INPUT (prompt STRING, seed BIGINT, temperature FLOAT, max_new_tokens INT) "
                + "OUTPUT (completion STRING, completion_ids ARRAY<INT>, completion_tokens INT, finish_reason STRING) "
                + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "'" + extraOptions + ");\n";
    }

    static String promptsTable(Path file) {
        return "CREATE TEMPORARY TABLE prompts (id STRING, prompt STRING, seed BIGINT, temperature FLOAT, max_new_tokens INT) "
                + "WITH ('connector' = 'filesystem', 'path' = '" + file + "', 'format' = 'json');\n";
    }

    static List<JsonNode> run(String script) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        SqlRunner.run(script, true, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        List<JsonNode> rows = new ArrayList<>();
        for (String line : bytes.toString(StandardCharsets.UTF_8).split("\n")) if (!line.isBlank()) rows.add(JSON.readTree(line));
        return rows;
    }

    /** 200 prompts from the Brown corpus, short and longer than the 64-token window; odd rows sampled with their own seed. */
    static List<ObjectNode> brownPrompts(int n) throws Exception {
        List<String> paragraphs = TestModels.brownParagraphs();
        SplittableRandom r = new SplittableRandom(14);
        List<ObjectNode> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String p = paragraphs.get(r.nextInt(paragraphs.size()));
            ObjectNode o = JSON.createObjectNode();
            o.put("id", "p" + i);
            o.put("prompt", p.substring(0, i % 5 == 0 ? Math.min(p.length(), 600) : Math.min(p.length(), 10 + r.nextInt(150))));
            o.put("max_new_tokens", 4 + r.nextInt(20));
            if (i % 2 == 1) { o.put("seed", 1000L + i); o.put("temperature", 0.8f); }
            out.add(o);
        }
        return out;
    }

    static Path write(Path file, List<ObjectNode> rows) throws Exception {
        StringBuilder b = new StringBuilder();
        for (ObjectNode o : rows) b.append(o).append('\n');
        Files.writeString(file, b);
        return file;
    }

    /** The engine alone over the same prompts and parameters (the model's defaults where a row has none). */
    static Map<String, Sequence> oracle(Path dir, List<ObjectNode> rows) {
        return oracle(dir, rows, 0f);
    }

    /** The same, with the model's min-p option. */
    static Map<String, Sequence> oracle(Path dir, List<ObjectNode> rows, float minP) {
        ChatTemplate template = ChatTemplate.load(dir).orElse(null);
        List<EngineOracle.Request> requests = new ArrayList<>();
        for (ObjectNode o : rows) {
            String prompt = o.has("prompt") ? o.get("prompt").asText() : template.render(messages(o.get("messages")));
            long seed = o.has("seed") ? o.get("seed").asLong() : SamplingParams.stableSeed(prompt);
            float t = o.has("temperature") ? (float) o.get("temperature").asDouble() : 0f;
            int max = o.has("max_new_tokens") ? o.get("max_new_tokens").asInt() : 128;
            float rowMinP = o.has("min_p") ? (float) o.get("min_p").asDouble() : minP;
            requests.add(new EngineOracle.Request(o.get("id").asText(), prompt, new SamplingParams(t, 1f, 0, rowMinP, seed, max, false, List.of(), new int[0])));
        }
        return EngineOracle.run(dir, requests);
    }

    static List<ChatTemplate.Message> messages(JsonNode a) {
        List<ChatTemplate.Message> m = new ArrayList<>();
        for (JsonNode x : a) m.add(new ChatTemplate.Message(x.get("role").asText(), x.get("content").asText()));
        return m;
    }

    static void assertMatches(Map<String, Sequence> want, List<JsonNode> got) {
        assertEquals(want.size(), got.size(), "one row per prompt");
        for (JsonNode row : got) {
            Sequence s = want.get(row.get("id").asText());
            assertNotNull(s, "unknown id " + row.get("id"));
            List<Integer> ids = new ArrayList<>();
            row.get("completion_ids").forEach(x -> ids.add(x.asInt()));
            assertEquals(java.util.Arrays.stream(s.generated()).boxed().toList(), ids, s.id() + " tokens");
            assertEquals(s.text(), row.get("completion").asText(), s.id() + " text");
            assertEquals(s.generatedCount(), row.get("completion_tokens").asInt(), s.id() + " count");
            assertEquals(s.finishReason().wire(), row.get("finish_reason").asText(), s.id() + " finish reason");
        }
    }

    @Test void mlPredictOver200PromptsEqualsTheEngineAloneGreedyAndSeeded() throws Exception {
        Path dir = TestModels.model("tiny-mistral");
        List<ObjectNode> rows = brownPrompts(200);
        Path file = write(tmp.resolve("prompts.jsonl"), rows);
        List<JsonNode> got = run(promptsTable(file) + model(dir, "")
                + "SELECT id, completion, completion_ids, completion_tokens, finish_reason "
                + "FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt, seed, temperature, max_new_tokens))");
        assertMatches(oracle(dir, rows), got);
    }

    /** The model's 'min-p' option reaches every row's draw: the rows equal the engine with that min_p, and some differ without it. */
    @Test void theMinPOptionSamplesEveryRowWithIt() throws Exception {
        Path dir = TestModels.model("tiny-mistral");
        List<ObjectNode> rows = brownPrompts(8);
        for (int i = 0; i < rows.size(); i++) rows.get(i).put("seed", 7L + i).put("temperature", 1.5f).put("max_new_tokens", 16);
        Path file = write(tmp.resolve("prompts.jsonl"), rows);
        List<JsonNode> got = run(promptsTable(file) + model(dir, ", 'min-p' = '0.2'")
                + "SELECT id, completion, completion_ids, completion_tokens, finish_reason "
                + "FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt, seed, temperature, max_new_tokens))");
        Map<String, Sequence> with = oracle(dir, rows, 0.2f), without = oracle(dir, rows);
        assertMatches(with, got);
        assertTrue(with.keySet().stream().anyMatch(id -> !with.get(id).text().equals(without.get(id).text())),
                "min-p 0.2 changed no row: these rows do not show that it reached the draw");
    }

    /** A per-row min_p column: rows that carry one are drawn with it, rows with NULL take the model's option (0 here). */
    @Test void theMinPColumnSamplesEachRowWithItsOwn() throws Exception {
        Path dir = TestModels.model("tiny-mistral");
        List<ObjectNode> rows = brownPrompts(8);
        for (int i = 0; i < rows.size(); i++) {
            rows.get(i).put("seed", 7L + i).put("temperature", 1.5f).put("max_new_tokens", 16);
            if (i % 2 == 0) rows.get(i).put("min_p", 0.2f);
        }
        Path file = write(tmp.resolve("prompts.jsonl"), rows);
        String table = "CREATE TEMPORARY TABLE prompts (id STRING, prompt STRING, seed BIGINT, temperature FLOAT, max_new_tokens INT, "
                + "min_p FLOAT) WITH ('connector' = 'filesystem', 'path' = '" + file + "', 'format' = 'json');\n";
        String model = "CREATE TEMPORARY MODEL llm INPUT (prompt STRING, seed BIGINT, temperature FLOAT, max_new_tokens INT, min_p FLOAT) "
                + "OUTPUT (completion STRING, completion_ids ARRAY<INT>, completion_tokens INT, finish_reason STRING) "
                + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "');\n";
        List<JsonNode> got = run(table + model + "SELECT id, completion, completion_ids, completion_tokens, finish_reason "
                + "FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt, seed, temperature, max_new_tokens, min_p))");
        Map<String, Sequence> want = oracle(dir, rows);
        assertMatches(want, got);
        List<ObjectNode> plain = new ArrayList<>();
        for (ObjectNode o : rows) { ObjectNode c = o.deepCopy(); c.remove("min_p"); plain.add(c); }
        Map<String, Sequence> without = oracle(dir, plain);
        assertTrue(want.keySet().stream().anyMatch(id -> !want.get(id).text().equals(without.get(id).text())),
                "the min_p column changed no row: these rows do not show that it reached the draw");
    }
}
