package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
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
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code mistral-flink sql} as a user runs it: statements from -e or -f, the rows of the last query as
 * JSON objects (--json) or tab-separated; a JSONL file of prompts through the filesystem connector, and
 * the prompts topic of a real (embedded) Kafka broker through the Kafka SQL connector, each row equal to
 * the engine alone.
 */
@Timeout(300)
class SqlCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    static final String OUTPUT = "OUTPUT (completion STRING, completion_ids ARRAY<INT>, completion_tokens INT, finish_reason STRING) ";

    private static String run(String... args) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        assertEquals(0, Cli.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8)));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static List<JsonNode> jsonLines(String out) throws Exception {
        List<JsonNode> rows = new ArrayList<>();
        for (String line : out.split("\n")) if (!line.isBlank()) rows.add(JSON.readTree(line));
        return rows;
    }

    @Test void jsonlPromptsFromAFileGiveOneJsonObjectPerRow() throws Exception {
        List<GenerationRequest> requests = KafkaJobSupport.requests("f-", 12, 1, 16, 9).stream().map(SqlCommandTest::sqlOnly).toList();
        StringBuilder jsonl = new StringBuilder();
        for (GenerationRequest r : requests) {
            var o = JSON.createObjectNode().put("id", r.getRequestId()).put("prompt", r.getPrompt()).put("max_new_tokens", r.getMaxNewTokens());
            if (r.getTemperature() != null) o.put("temperature", r.getTemperature()).put("top_p", r.getTopP()).put("top_k", r.getTopK()).put("seed", r.getSeed());
            else o.put("seed", io.mistralflink.model.sampling.SamplingParams.stableSeed(r.getRequestId()));
            jsonl.append(o).append('\n');
        }
        Path file = Files.writeString(tmp.resolve("prompts.jsonl"), jsonl);
        Path script = Files.writeString(tmp.resolve("q.sql"), """
                -- prompts from a JSONL file; a semicolon in a string ';' and in a comment do not split statements
                CREATE TEMPORARY TABLE prompts (id STRING, prompt STRING, max_new_tokens INT, temperature FLOAT, top_p FLOAT, top_k INT, seed BIGINT)
                  WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'json');
                CREATE TEMPORARY MODEL llm INPUT (prompt STRING, seed BIGINT, temperature FLOAT, top_p FLOAT, top_k INT, max_new_tokens INT)
                  %s WITH ('provider' = 'mistral-flink', 'model' = '%s');
                SELECT id, completion, completion_ids, completion_tokens, finish_reason, ';' AS semicolon
                  FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt, seed, temperature, top_p, top_k, max_new_tokens));
                """.formatted(file, OUTPUT, KafkaJobSupport.model()));
        List<JsonNode> rows = jsonLines(run("sql", "-f", script.toString(), "--json"));
        Map<String, Sequence> want = KafkaJobSupport.oracle(KafkaJobSupport.model(), requests);
        assertMatches(want, rows);
        for (JsonNode r : rows) {
            assertEquals(List.of("id", "completion", "completion_ids", "completion_tokens", "finish_reason", "semicolon"),
                    iterable(r.fieldNames()), "column names as keys, in order");
            assertEquals(";", r.get("semicolon").asText());
        }

        // without --json: a header, then a tab-separated line per row (line breaks in values escaped)
        String plain = run("sql", "-e", "SELECT 'a' AS x, CAST(NULL AS INT) AS y, 'two\nlines' AS z");
        assertEquals("x\ty\tz\na\tNULL\ttwo\\nlines\n", plain);
    }

    @Test void badArgumentsAndStatementsEndWithOneLine() {
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"sql"}, System.out));
        assertThrows(UsageException.class, () -> Cli.run(new String[]{"sql", "-e", "SELECT 1", "-f", "x.sql"}, System.out));
        var e = assertThrows(IllegalArgumentException.class, () -> Cli.run(new String[]{"sql", "-e", "SELECT 1; SELECT * FROM nowhere"}, System.out));
        assertTrue(e.getMessage().startsWith("sql: statement 2 (SELECT * FROM nowhere): "), e.getMessage());
        assertTrue(e.getMessage().contains("nowhere"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test void thePromptsTopicThroughTheKafkaSqlConnector() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>(KafkaJobSupport.requests("k-", 24, 1, 16, 3).stream().map(SqlCommandTest::sqlOnly).toList());
        requests.add(KafkaJobSupport.chat("chat-1", List.of(new ChatMessage("user", "Tell me about the city council.")), 12));
        requests.add(KafkaJobSupport.chat("chat-2", List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"),
                new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "What did the jury say?")), 12));
        Path model = KafkaJobSupport.chatModel();
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, requests);
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start()) {
            KafkaJobSupport.produce(kafka, requests);
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
            p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
                producer.send(new ProducerRecord<>(KafkaTopics.DEFAULT_PROMPTS, "not avro".getBytes(StandardCharsets.UTF_8))).get();
            }
            String sql = """
                    CREATE TEMPORARY TABLE prompts_topic (`value` BYTES) WITH ('connector' = 'kafka', 'topic' = '%s',
                      'properties.bootstrap.servers' = '%s', 'properties.group.id' = 'sql-test',
                      'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'format' = 'raw');
                    CREATE TEMPORARY FUNCTION generation_request AS 'io.mistralflink.job.kafka.GenerationRequestFunction';
                    CREATE TEMPORARY VIEW requests AS SELECT r.request_id, r.prompt, r.messages, r.seed, r.temperature, r.top_p,
                      r.top_k, r.max_new_tokens, r.error FROM (SELECT generation_request(`value`) AS r FROM prompts_topic);
                    CREATE TEMPORARY MODEL llm INPUT (prompt STRING, messages ARRAY<ROW<role STRING, content STRING>>, seed BIGINT,
                      temperature FLOAT, top_p FLOAT, top_k INT, max_new_tokens INT) %s WITH ('provider' = 'mistral-flink', 'model' = '%s');
                    SELECT request_id AS id, error, completion, completion_ids, completion_tokens, finish_reason FROM ML_PREDICT(TABLE requests,
                      MODEL llm, DESCRIPTOR(prompt, messages, seed, temperature, top_p, top_k, max_new_tokens))
                    """.formatted(KafkaTopics.DEFAULT_PROMPTS, kafka.bootstrapServers(), OUTPUT, model);
            List<JsonNode> rows = jsonLines(run("sql", "-e", sql, "--json"));
            List<JsonNode> bad = rows.stream().filter(r -> !r.get("error").isNull()).toList();
            assertEquals(1, bad.size(), "the record that is not Avro: " + bad);
            assertTrue(bad.get(0).get("error").asText().startsWith("not_avro"), bad.toString());
            assertTrue(bad.get(0).get("finish_reason").asText().startsWith("error: invalid_request"), bad.toString());
            assertMatches(want, rows.stream().filter(r -> r.get("error").isNull()).toList());
        }
    }

    /** A request as SQL columns carry it: no stop strings, stop ids or ignore_eos. */
    private static GenerationRequest sqlOnly(GenerationRequest r) {
        return GenerationRequest.newBuilder(r).setStop(List.of()).setStopTokenIds(List.of()).setIgnoreEos(false).build();
    }

    private static void assertMatches(Map<String, Sequence> want, List<JsonNode> got) {
        Map<String, JsonNode> byId = new HashMap<>();
        got.forEach(r -> assertNull(byId.put(r.get("id").asText(), r), "answered twice: " + r.get("id")));
        assertEquals(want.keySet(), byId.keySet());
        want.forEach((id, s) -> {
            JsonNode r = byId.get(id);
            List<Integer> ids = new ArrayList<>();
            r.get("completion_ids").forEach(x -> ids.add(x.asInt()));
            assertEquals(java.util.Arrays.stream(s.generated()).boxed().toList(), ids, id + " tokens");
            assertEquals(s.text(), r.get("completion").asText(), id + " text");
            assertEquals(s.generatedCount(), r.get("completion_tokens").asInt(), id);
            assertEquals(s.finishReason().wire(), r.get("finish_reason").asText(), id);
        });
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        List<String> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
