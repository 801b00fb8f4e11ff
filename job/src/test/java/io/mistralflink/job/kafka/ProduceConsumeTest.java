package io.mistralflink.job.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.Timings;
import io.mistralflink.schemas.WireCodec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(60)
class ProduceConsumeTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static EmbeddedKafka kafka;

    @BeforeAll
    static void startKafka() {
        kafka = EmbeddedKafka.builder().partitions(2).topic("completions-follow", 1).topic("prompts-2", 1).start();
    }

    @AfterAll
    static void stopKafka() {
        if (kafka != null) kafka.close();
    }

    private static final class Capture {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final PrintStream stream = new PrintStream(bytes, true, StandardCharsets.UTF_8);

        List<String> lines() {
            String s = bytes.toString(StandardCharsets.UTF_8);
            return s.isEmpty() ? List.of() : List.of(s.split("\n"));
        }
    }

    /** A send that fails ends produce at its line: the lines before it are written, none after it. */
    @Test
    void produceStopsAtTheFirstFailedSendNamingItsLine(@TempDir Path dir) throws Exception {
        kafka.createTopic("prompts-stop", 1);
        Path file = dir.resolve("prompts.jsonl");
        Files.writeString(file, String.join("\n",
                "{\"request_id\": \"a\", \"prompt\": \"Hello\", \"max_new_tokens\": 8}",
                "{\"request_id\": \"big\", \"prompt\": \"" + "x".repeat(4000) + "\", \"max_new_tokens\": 8}",
                "{\"request_id\": \"c\", \"prompt\": \"after\", \"max_new_tokens\": 8}"), StandardCharsets.UTF_8);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Produce.run(kafka.bootstrapServers(), "prompts-stop", file,
                java.util.Map.of("max.request.size", "2000"), new Capture().stream));
        assertTrue(e.getMessage().startsWith(file + ":2: sending to prompts-stop"), e.getMessage());
        assertTrue(e.getMessage().contains("RecordTooLargeException") && e.getMessage().contains("nothing after line 2"), e.getMessage());
        Capture out = new Capture();
        assertEquals(1, Consume.run(kafka.bootstrapServers(), "prompts-stop", false, 0, out.stream));
        assertTrue(out.lines().get(0).contains("\"request_id\":\"a\""), out.lines().toString());
    }

    @Test
    void produceWritesGoodLinesAndReportsBadOnesWithLineNumbers(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("prompts.jsonl");
        Files.writeString(file, String.join("\n",
                "{\"request_id\": \"a\", \"prompt\": \"Hello\", \"max_new_tokens\": 8}",
                "{\"request_id\": \"b\", \"prompt\": \"Hi\", \"max_new_tokens\": 4, \"temperature\": 0.5, \"top_p\": 0.9, \"top_k\": 40, "
                        + "\"seed\": 12345678901, \"stop\": [\"\\n\"], \"stop_token_ids\": [2], \"ignore_eos\": true, \"metadata\": {\"user\": \"u1\", \"n\": 3}}",
                "{\"request_id\": \"c\", \"prompt\": \"broken\", ",
                "",
                "{\"request_id\": \"d\", \"prompt\": \"no budget\"}",
                "{\"request_id\": \"e\", \"prompt\": \"x\", \"max_new_tokens\": \"ten\"}",
                "{\"request_id\": \"f\", \"promt\": \"typo\", \"max_new_tokens\": 1}",
                "[1, 2]",
                "{\"request_id\": \"g\", \"messages\": [{\"role\": \"user\", \"content\": \"Hey\"}], \"max_new_tokens\": 2, \"stop\": \"END\"}",
                "{\"request_id\": \"h\", \"prompt\": \"\", \"max_new_tokens\": -1}"), StandardCharsets.UTF_8);
        Capture err = new Capture();
        int n = Produce.run(kafka.bootstrapServers(), "prompts-2", file, err.stream);
        assertEquals(4, n, String.join("\n", err.lines()));
        List<String> errors = err.lines();
        assertEquals(6, errors.size(), String.join("\n", errors));
        assertTrue(errors.get(0).startsWith(file + ":3: skipped: bad JSON"), errors.get(0));
        assertTrue(errors.get(1).startsWith(file + ":5: skipped: missing 'max_new_tokens'"), errors.get(1));
        assertTrue(errors.get(2).startsWith(file + ":6: skipped: 'max_new_tokens' must be a 32-bit integer"), errors.get(2));
        assertTrue(errors.get(3).startsWith(file + ":7: skipped: unknown field 'promt'"), errors.get(3));
        assertTrue(errors.get(4).startsWith(file + ":8: skipped: not a JSON object"), errors.get(4));
        assertEquals(file + ": 5 line(s) skipped, 4 produced", errors.get(5));

        // read back through Consume (it prints requests too) and check the mapping
        Capture out = new Capture();
        assertEquals(4, Consume.run(kafka.bootstrapServers(), "prompts-2", false, 0, out.stream));
        Map<String, JsonNode> byId = new java.util.HashMap<>();
        for (String line : out.lines()) {
            JsonNode j = JSON.readTree(line);
            byId.put(j.get("request_id").asText(), j);
        }
        assertEquals(java.util.Set.of("a", "b", "g", "h"), byId.keySet());
        JsonNode b = byId.get("b");
        assertEquals(4, b.get("max_new_tokens").asInt());
        assertEquals(0.5, b.get("temperature").asDouble(), 1e-6);
        assertEquals(0.9, b.get("top_p").asDouble(), 1e-6);
        assertEquals(40, b.get("top_k").asInt());
        assertEquals(12345678901L, b.get("seed").asLong());
        assertEquals("\n", b.get("stop").get(0).asText());
        assertEquals(2, b.get("stop_token_ids").get(0).asInt());
        assertTrue(b.get("ignore_eos").asBoolean());
        assertEquals("u1", b.get("metadata").get("user").asText());
        assertEquals("3", b.get("metadata").get("n").asText());
        JsonNode g = byId.get("g");
        assertFalse(g.has("prompt"));
        assertEquals("Hey", g.get("messages").get(0).get("content").asText());
        assertEquals("END", g.get("stop").get(0).asText());
        // semantically invalid requests are the job's business (dead letters), not produce's
        assertEquals(-1, byId.get("h").get("max_new_tokens").asInt());
    }

    @Test
    void producedRecordsAreKeyedByRequestIdAndSingleObjectEncoded(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("one.jsonl");
        Files.writeString(file, "{\"request_id\": \"keyed-1\", \"prompt\": \"p\", \"max_new_tokens\": 1}\n");
        kafka.createTopic("prompts-keyed", 1);
        assertEquals(1, Produce.run(kafka.bootstrapServers(), "prompts-keyed", file, System.err));
        var records = KafkaTestSupport.readCommitted(kafka.bootstrapServers(), "prompts-keyed", 1,
                java.time.Duration.ofSeconds(20), java.time.Duration.ZERO);
        assertEquals(1, records.size());
        assertEquals("keyed-1", new String(records.get(0).key(), StandardCharsets.UTF_8));
        GenerationRequest r = WireCodec.decodeRequest(records.get(0).value());
        assertEquals("p", r.getPrompt());
        assertEquals(1, r.getMaxNewTokens());
    }

    @Test
    void consumePrintsOnlyCommittedCompletionsAsJsonLines() throws Exception {
        try (KafkaProducer<byte[], byte[]> tx = KafkaTestSupport.producer(kafka.bootstrapServers(), "consume-test-tx")) {
            tx.initTransactions();
            tx.beginTransaction();
            send(tx, "completions", completion("c1", "Paris."));
            send(tx, "completions", completion("c2", "Rome."));
            tx.commitTransaction();
            tx.beginTransaction();
            send(tx, "completions", completion("aborted", "never seen"));
            tx.flush();
            tx.abortTransaction();
            tx.beginTransaction();
            tx.send(new ProducerRecord<>("completions", null, "not avro".getBytes(StandardCharsets.UTF_8))).get();
            send(tx, "completions", completion("c3", "Madrid."));
            tx.commitTransaction();
        }
        Capture out = new Capture();
        Capture err = new Capture();
        int printed = Consume.run(kafka.bootstrapServers(), "completions", false, 0, out.stream, err.stream);
        assertEquals(3, printed);
        List<JsonNode> lines = out.lines().stream().map(ProduceConsumeTest::json).toList();
        assertEquals(List.of("c1", "c2", "c3"), lines.stream().map(j -> j.get("request_id").asText()).sorted().toList());
        JsonNode c1 = lines.stream().filter(j -> j.get("request_id").asText().equals("c1")).findFirst().orElseThrow();
        assertEquals("Paris.", c1.get("text").asText());
        assertEquals(List.of(5, 6, 2), List.of(c1.get("completion_ids").get(0).asInt(), c1.get("completion_ids").get(1).asInt(), c1.get("completion_ids").get(2).asInt()));
        assertEquals(7, c1.get("prompt_tokens").asInt());
        assertEquals(3, c1.get("completion_tokens").asInt());
        assertEquals("stop", c1.get("finish_reason").asText());
        assertEquals(11, c1.get("timings").get("queued_ms").asLong());
        assertEquals(22, c1.get("timings").get("prefill_ms").asLong());
        assertEquals(33, c1.get("timings").get("decode_ms").asLong());
        assertEquals("v", c1.get("metadata").get("k").asText());
        assertEquals(1, err.lines().size(), err.lines().toString());
        assertTrue(err.lines().get(0).contains("skipped: not Avro single-object encoded"), err.lines().get(0));

        Capture one = new Capture();
        assertEquals(1, Consume.run(kafka.bootstrapServers(), "completions", false, 1, one.stream, err.stream));
        assertEquals(1, one.lines().size());

        Capture none = new Capture();
        assertEquals(0, Consume.run(kafka.bootstrapServers(), "dead-letters", false, 0, none.stream));
        assertThrows(IllegalArgumentException.class,
                () -> Consume.run(kafka.bootstrapServers(), "no-such-topic", false, 0, none.stream));
    }

    @Test
    void consumeFollowWaitsForNewRecordsUntilCount() throws Exception {
        try (KafkaProducer<byte[], byte[]> p = KafkaTestSupport.producer(kafka.bootstrapServers(), "follow-test-tx")) {
            p.initTransactions();
            p.beginTransaction();
            send(p, "completions-follow", completion("f1", "one"));
            p.commitTransaction();
            Capture out = new Capture();
            CompletableFuture<Integer> consumer = CompletableFuture.supplyAsync(
                    () -> Consume.run(kafka.bootstrapServers(), "completions-follow", true, 3, out.stream));
            Thread.sleep(1500);
            assertFalse(consumer.isDone(), "follow must wait for more records");
            p.beginTransaction();
            send(p, "completions-follow", completion("f2", "two"));
            send(p, "completions-follow", completion("f3", "three"));
            send(p, "completions-follow", completion("f4", "four"));
            p.commitTransaction();
            assertEquals(3, consumer.get(30, TimeUnit.SECONDS));
            assertEquals(List.of("f1", "f2", "f3"), out.lines().stream().map(l -> json(l).get("request_id").asText()).toList());
        }
    }

    private static void send(KafkaProducer<byte[], byte[]> p, String topic, Completion c) throws Exception {
        p.send(new ProducerRecord<>(topic, c.getRequestId().getBytes(StandardCharsets.UTF_8), WireCodec.encode(c))).get();
    }

    private static Completion completion(String id, String text) {
        return Completion.newBuilder().setRequestId(id).setText(text).setCompletionIds(List.of(5, 6, 2))
                .setFinishReason("stop").setPromptTokens(7).setCompletionTokens(3)
                .setTimings(new Timings(11L, 22L, 33L)).setModel("tiny-mistral").setMetadata(Map.of("k", "v")).build();
    }

    private static JsonNode json(String line) {
        try {
            return JSON.readTree(line);
        } catch (Exception e) {
            throw new AssertionError(line, e);
        }
    }
}
