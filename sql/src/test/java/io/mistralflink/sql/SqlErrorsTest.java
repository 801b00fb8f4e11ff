package io.mistralflink.sql;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.mistralflink.sql.MlPredictTest.*;
import static org.junit.jupiter.api.Assertions.*;

/** Rows that cannot be answered, CREATE MODEL options and columns that are wrong, the chat column. */
class SqlErrorsTest {
    @TempDir Path tmp;

    static ObjectNode row(String id, String prompt, Integer maxNew, Float temperature) {
        ObjectNode o = JSON.createObjectNode();
        o.put("id", id);
        if (prompt != null) o.put("prompt", prompt);
        if (maxNew != null) o.put("max_new_tokens", maxNew);
        if (temperature != null) o.put("temperature", temperature);
        return o;
    }

    @Test void rowsThatCannotBeAnsweredGiveNullAndTheirErrorAndTheQueryGoesOn() throws Exception {
        Path dir = TestModels.model("tiny-mistral");
        List<ObjectNode> good = List.of(row("first", "The jury said", 8, null), row("last", "In the morning, the president", 6, 0.7f));
        List<ObjectNode> rows = new ArrayList<>();
        rows.add(good.get(0));
        rows.add(row("too-long", "word ".repeat(9000), 4, null));           // more than the 8,192 positions
        rows.add(row("cold", "The jury said", 4, -1f));
        rows.add(row("nothing", "The jury said", 0, null));
        rows.add(row("empty", "", 4, null));
        rows.add(good.get(1));
        List<JsonNode> got = run(promptsTable(write(tmp.resolve("p.jsonl"), rows)) + model(dir, "")
                + "SELECT id, completion, completion_ids, completion_tokens, finish_reason "
                + "FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt, seed, temperature, max_new_tokens), MAP['max-concurrent-operations', '3'])");
        Map<String, JsonNode> byId = new HashMap<>();
        got.forEach(r -> byId.put(r.get("id").asText(), r));
        assertEquals(rows.size(), byId.size(), "a row for every input row: " + got);
        Map<String, String> errors = Map.of("too-long", "error: prompt_too_long: prompt of ", "cold", "error: invalid_request: temperature must be >= 0",
                "nothing", "error: invalid_request: max_new_tokens must be >= 1", "empty", "error: invalid_request: empty prompt");
        errors.forEach((id, reason) -> {
            JsonNode r = byId.get(id);
            assertTrue(r.get("finish_reason").asText().startsWith(reason), id + ": " + r.get("finish_reason"));
            assertTrue(r.get("completion").isNull() && r.get("completion_ids").isNull() && r.get("completion_tokens").isNull(), id + ": " + r);
        });
        assertMatches(oracle(dir, good), List.of(byId.get("first"), byId.get("last")));
    }

    @Test void theChatColumnIsRenderedWithTheCheckpointsTemplate() throws Exception {
        Path chat = TestModels.chatModel();
        List<ObjectNode> rows = new ArrayList<>();
        rows.add(chatRow("one", List.of("user", "Tell me about the city council.")));
        rows.add(chatRow("turns", List.of("system", "Be brief.", "user", "Hi", "assistant", "Hello!", "user", "What did the jury say?")));
        rows.add(chatRow("refused", List.of("assistant", "I speak first")));   // the template raises: roles must alternate
        ObjectNode both = chatRow("prompt-wins", List.of("user", "ignored"));
        both.put("prompt", "The jury said");
        rows.add(both);
        String table = "CREATE TEMPORARY TABLE prompts (id STRING, prompt STRING, messages ARRAY<ROW<role STRING, content STRING>>) "
                + "WITH ('connector' = 'filesystem', 'path' = '" + write(tmp.resolve("chat.jsonl"), rows) + "', 'format' = 'json');\n";
        String query = "SELECT id, completion, completion_ids, completion_tokens, finish_reason "
                + "FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt, messages))";
        List<JsonNode> got = run(table + chatModel(chat) + query);
        JsonNode refused = got.stream().filter(r -> r.get("id").asText().equals("refused")).findFirst().orElseThrow();
        assertTrue(refused.get("finish_reason").asText().startsWith("error: chat_template: the chat template refused the messages"), refused.toString());
        assertTrue(refused.get("completion").isNull());
        List<ObjectNode> answered = rows.stream().filter(r -> !r.get("id").asText().equals("refused")).map(r -> {
            ObjectNode o = r.deepCopy();
            o.put("max_new_tokens", 16);
            if (o.has("prompt")) o.remove("messages");
            return o;
        }).toList();
        assertMatches(oracle(chat, answered), got.stream().filter(r -> !r.get("id").asText().equals("refused")).toList());

        // a checkpoint without a chat template refuses messages, and says so
        List<JsonNode> none = run(table + chatModel(TestModels.model("tiny-mistral")) + query);
        JsonNode one = none.stream().filter(r -> r.get("id").asText().equals("one")).findFirst().orElseThrow();
        assertTrue(one.get("finish_reason").asText().startsWith("error: no_chat_template: the model tiny-mistral has no chat_template"), one.toString());
    }

    private static String chatModel(Path dir) {
        return "CREATE TEMPORARY MODEL llm INPUT (prompt STRING, messages ARRAY<ROW<role STRING, content STRING>>) "
                + "OUTPUT (completion STRING, completion_ids ARRAY<INT>, completion_tokens INT, finish_reason STRING) "
                + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'max-new-tokens' = '16');\n";
    }

    private static ObjectNode chatRow(String id, List<String> turns) {
        ObjectNode o = JSON.createObjectNode();
        o.put("id", id);
        var ms = o.putArray("messages");
        for (int i = 0; i < turns.size(); i += 2) ms.addObject().put("role", turns.get(i)).put("content", turns.get(i + 1));
        return o;
    }

    /** A bad CREATE MODEL fails there (statement 1), with a message that names the option or column. */
    @Test void createModelChecksItsOptionsAndColumns() {
        Path dir = TestModels.model("tiny-mistral");
        String in = "INPUT (prompt STRING) ", out = "OUTPUT (completion STRING, finish_reason STRING) ";
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'max-tokens' = '5')", "unknown option 'max-tokens'");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir.resolve("nowhere") + "')", "nowhere is not a directory");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink')", "option 'model' is required");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir.getParent() + "')", "config.json");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'max-new-tokens' = 'lots')", "option 'max-new-tokens' is 'lots', not a number");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'max-new-tokens' = '0')", "option 'max-new-tokens' is 0, must be >= 1");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'temperature' = '-1')", "option 'temperature' must be >= 0, got -1.0");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'min-p' = '1.5')", "option 'min-p' must be in [0, 1], got 1.5");
        cases.put(in + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "', 'device' = 'tpu')", "unknown device 'tpu'");
        cases.put(in + "OUTPUT (text STRING) WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "')", "unknown output column 'text'");
        cases.put("INPUT (prompt INT) " + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "')", "input column 'prompt' is INT, must be STRING");
        cases.put("INPUT (seed BIGINT) " + out + "WITH ('provider' = 'mistral-flink', 'model' = '" + dir + "')", "needs a 'prompt STRING' or a 'messages");
        cases.forEach((model, expected) -> {
            var e = assertThrows(SqlRunner.StatementException.class, () -> SqlRunner.run("CREATE MODEL m " + model + ";\nSELECT 1", true, System.out));
            assertTrue(e.getMessage().startsWith("statement 1 (CREATE MODEL m"), e.getMessage());
            assertTrue(e.getMessage().contains(expected), "want '" + expected + "' in: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        });
    }

    /** Flink 2.2.1 parses and validates ML_EVALUATE but has no rule to run it: docs/sql.md says so. When it does, this fails. */
    @Test void mlEvaluateCannotRunInFlink221() throws Exception {
        Path file = write(tmp.resolve("e.jsonl"), List.of(row("a", "The jury said", 4, null)));
        String script = "CREATE TEMPORARY TABLE t (id STRING, prompt STRING, label STRING) WITH ('connector' = 'filesystem', 'path' = '" + file
                + "', 'format' = 'json');\nCREATE TEMPORARY MODEL m INPUT (prompt STRING) OUTPUT (completion STRING) WITH ('provider' = 'mistral-flink', 'model' = '"
                + TestModels.model("tiny-mistral") + "');\nSELECT * FROM ML_EVALUATE(TABLE t, MODEL m, DESCRIPTOR(label), DESCRIPTOR(prompt), 'text_generation')";
        var e = assertThrows(SqlRunner.StatementException.class, () -> SqlRunner.run(script, true, System.out));
        assertTrue(e.getMessage().startsWith("statement 3 (SELECT * FROM ML_EVALUATE"), e.getMessage());
        assertTrue(e.getMessage().contains("Cannot generate a valid execution plan"), e.getMessage());
    }
}
