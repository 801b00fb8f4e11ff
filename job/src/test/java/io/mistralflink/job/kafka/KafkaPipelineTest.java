package io.mistralflink.job.kafka;

import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.Timings;
import io.mistralflink.schemas.WireCodec;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real Flink MiniCluster job on a real embedded broker: prompts topic -> {@link DecodeRequests}
 * -> exactly-once completions sink (an echo instead of the model) and exactly-once dead-letter
 * sink, checkpointing every 200 ms, no restarts allowed. Every kind of bad record must land on the
 * dead-letter topic with its reason, bytes and coordinates; good ones pass exactly once; and the
 * job must still be running (a failure would have ended it: restart strategy "none").
 */
@Timeout(120)
class KafkaPipelineTest {

    private static final int MAX_NEW_TOKENS_LIMIT = 512;

    /** A request that passes, or a record that must be dead-lettered with a reason containing {@code reason}. */
    private record Case(String key, byte[] value, String reason) {}

    @Test
    void badRecordsAreDeadLetteredGoodOnesPassExactlyOnceAndTheJobKeepsRunning() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start()) {
            KafkaIo io = new KafkaIo(kafka.bootstrapServers(), KafkaTopics.defaults(), "pipeline-test");

            List<Case> first = new ArrayList<>();
            first.add(good("good-1", b -> {}));
            first.add(new Case("bad-not-avro", "{\"prompt\": \"hi\"}".getBytes(StandardCharsets.UTF_8), "not_avro: not Avro single-object encoded"));
            first.add(new Case("bad-tombstone", null, "not_avro: not Avro single-object encoded: empty value"));
            byte[] unknown = WireCodec.encode(request("bad-fp", b -> {}));
            unknown[2] ^= (byte) 0xFF;
            first.add(new Case("bad-fp", unknown, "unknown_schema: unknown schema fingerprint 0x"));
            first.add(new Case("bad-type", WireCodec.encode(completion("bad-type")), "wrong_record_type: record is a Completion"));
            byte[] truncated = WireCodec.encode(request("bad-corrupt", b -> {}));
            first.add(new Case("bad-corrupt", Arrays.copyOf(truncated, 15), "corrupt: corrupt GenerationRequest"));
            first.add(bad("bad-empty", b -> b.setPrompt(""), "invalid_request: empty prompt"));
            first.add(bad("bad-null-prompt", b -> b.setPrompt(null), "invalid_request: empty prompt"));
            first.add(bad("bad-negative-max", b -> b.setMaxNewTokens(-4), "invalid_request: max_new_tokens is -4, must be >= 1"));
            first.add(bad("bad-absurd-max", b -> b.setMaxNewTokens(1_000_000), "invalid_request: max_new_tokens is 1000000, above the limit of 512"));
            first.add(bad("bad-nan-temp", b -> b.setTemperature(Float.NaN), "invalid_request: temperature is NaN"));
            first.add(bad("bad-neg-temp", b -> b.setTemperature(-1f), "invalid_request: temperature is -1.0"));
            first.add(bad("bad-top-p-0", b -> b.setTopP(0f), "invalid_request: top_p is 0.0, must be in (0, 1]"));
            first.add(bad("bad-top-p-big", b -> b.setTopP(1.5f), "invalid_request: top_p is 1.5"));
            first.add(bad("bad-top-k", b -> b.setTopK(-3), "invalid_request: top_k is -3"));
            first.add(bad("bad-too-long", b -> b.setPrompt("TOO LONG " + "x".repeat(100)), "invalid_request: prompt does not fit the context"));
            first.add(good("good-2", b -> b.setPrompt(null).setMessages(List.of(new ChatMessage("user", "Hi")))));
            first.add(new Case("good-v1", v1Request("good-v1"), null));

            Map<String, RecordMetadata> where = new HashMap<>();
            try (KafkaProducer<byte[], byte[]> producer = KafkaTestSupport.producer(kafka.bootstrapServers(), null)) {
                for (Case c : first) where.put(c.key, KafkaTestSupport.send(producer, "prompts", c.key, c.value));

                JobClient job = startJob(io, noRestarts());
                try {
                    // the first batch is through: bad records did not stop the job ...
                    List<ConsumerRecord<byte[], byte[]>> dlq1 = KafkaTestSupport.readCommitted(kafka.bootstrapServers(),
                            "dead-letters", count(first, false), Duration.ofSeconds(60), Duration.ZERO);
                    assertEquals(count(first, false), dlq1.size(), "dead letters of the first batch");
                    assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS));

                    // ... and it still processes records produced after them
                    List<Case> second = List.of(good("good-3", b -> {}),
                            new Case("bad-late", new byte[] {(byte) 0xC3}, "not_avro: "),
                            good("good-4", b -> b.setTemperature(0f).setTopP(1f).setTopK(0)));
                    for (Case c : second) where.put(c.key, KafkaTestSupport.send(producer, "prompts", c.key, c.value));
                    List<Case> all = new ArrayList<>(first);
                    all.addAll(second);

                    List<ConsumerRecord<byte[], byte[]>> completions = KafkaTestSupport.readCommitted(kafka.bootstrapServers(),
                            "completions", count(all, true), Duration.ofSeconds(60), Duration.ofMillis(1500));
                    List<ConsumerRecord<byte[], byte[]>> deadLetters = KafkaTestSupport.readCommitted(kafka.bootstrapServers(),
                            "dead-letters", count(all, false), Duration.ofSeconds(60), Duration.ofMillis(500));

                    // good requests: each exactly once, keyed by request id
                    List<String> completed = completions.stream().map(r -> {
                        Completion c = WireCodec.decodeCompletion(r.value());
                        assertEquals(c.getRequestId(), new String(r.key(), StandardCharsets.UTF_8));
                        assertEquals("echo", c.getModel());
                        return c.getRequestId();
                    }).sorted().toList();
                    assertEquals(List.of("good-1", "good-2", "good-3", "good-4", "good-v1"), completed);

                    // bad records: each exactly once, with reason, original bytes and coordinates
                    Map<String, Case> badByCoordinates = new LinkedHashMap<>();
                    for (Case c : all) {
                        if (c.reason != null) badByCoordinates.put(where.get(c.key).partition() + "@" + where.get(c.key).offset(), c);
                    }
                    assertEquals(badByCoordinates.size(), deadLetters.size(),
                            "dead letters: " + deadLetters.stream().map(r -> WireCodec.decodeDeadLetter(r.value()).getReason()).toList());
                    for (ConsumerRecord<byte[], byte[]> r : deadLetters) {
                        DeadLetter d = WireCodec.decodeDeadLetter(r.value());
                        assertEquals("prompts", d.getTopic());
                        Case c = badByCoordinates.remove(d.getPartition() + "@" + d.getOffset());
                        assertNotNull(c, "unexpected or duplicate dead letter " + d);
                        assertTrue(d.getReason().startsWith(c.reason), c.key + ": " + d.getReason());
                        assertEquals(ByteBuffer.wrap(c.value == null ? new byte[0] : c.value), d.getOriginal(), c.key);
                        if (d.getRequestId() != null) {
                            assertEquals(c.key, d.getRequestId());
                            assertEquals(c.key, new String(r.key(), StandardCharsets.UTF_8));
                        }
                    }
                    assertTrue(badByCoordinates.isEmpty(), "missing dead letters: " + badByCoordinates.keySet());
                    assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS), "the job kept running");
                } finally {
                    job.cancel().get(30, TimeUnit.SECONDS);
                }
            }
        }
    }

    static Configuration noRestarts() {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none"); // any failure ends the job (no silent retry loop)
        return conf;
    }

    /** The test job: prompts -> decode/validate -> echo -> completions; dead letters -> DLQ. */
    static JobClient startJob(KafkaIo io, Configuration conf) throws Exception {
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(200));
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(2);

        RequestValidator validator = new RequestValidator(MAX_NEW_TOKENS_LIMIT)
                // stands in for the pipeline owner's tokenizer-based context check
                .withCheck(r -> r.getPrompt() != null && r.getPrompt().length() > 100
                        ? Optional.of("prompt does not fit the context (" + r.getPrompt().length() + " chars)") : Optional.empty());
        DataStream<RawRecord> raw = env.fromSource(io.promptSource("pipeline-test"), WatermarkStrategy.noWatermarks(), "prompts");
        var requests = DecodeRequests.apply(raw, validator);
        requests.map(KafkaPipelineTest::echo).returns(new AvroTypeInfo<>(Completion.class)).name("echo")
                .sinkTo(io.completionSink()).name("completions");
        requests.getSideOutput(DecodeRequests.DEAD_LETTERS).sinkTo(io.deadLetterSink()).name("dead-letters");
        return env.executeAsync("kafka-pipeline-test");
    }

    static GenerationRequest request(String id) {
        return request(id, b -> {});
    }

    private static Completion echo(GenerationRequest r) {
        String text = r.getPrompt() != null ? r.getPrompt()
                : r.getMessages().stream().map(ChatMessage::getContent).collect(Collectors.joining("\n"));
        return Completion.newBuilder().setRequestId(r.getRequestId()).setText(text).setCompletionIds(List.of())
                .setFinishReason("length").setPromptTokens(0).setCompletionTokens(0)
                .setTimings(new Timings(0L, 0L, 0L)).setModel("echo").setMetadata(r.getMetadata()).build();
    }

    private static int count(List<Case> cases, boolean good) {
        return (int) cases.stream().filter(c -> (c.reason == null) == good).count();
    }

    private static GenerationRequest request(String id, Consumer<GenerationRequest.Builder> edit) {
        GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId(id).setPrompt("Say hi").setMaxNewTokens(8);
        edit.accept(b);
        return b.build();
    }

    private static Case good(String id, Consumer<GenerationRequest.Builder> edit) {
        return new Case(id, WireCodec.encode(request(id, edit)), null);
    }

    private static Case bad(String id, Consumer<GenerationRequest.Builder> edit, String reason) {
        return new Case(id, WireCodec.encode(request(id, edit)), reason);
    }

    private static Completion completion(String id) {
        return Completion.newBuilder().setRequestId(id).setText("x").setCompletionIds(List.of(1)).setFinishReason("stop")
                .setPromptTokens(1).setCompletionTokens(1).setTimings(new Timings(0L, 0L, 0L)).setModel("m").build();
    }

    /** Bytes of an old producer that writes GenerationRequest v1 (no stop_token_ids). */
    private static byte[] v1Request(String id) throws Exception {
        Schema v1 = WireCodec.REQUEST.previousSchemas().get(0);
        GenericRecord r = new GenericRecordBuilder(v1).set("request_id", id).set("prompt", "old writer")
                .set("max_new_tokens", 4).build();
        ByteBuffer buf = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(r);
        byte[] out = new byte[buf.remaining()];
        buf.get(out);
        return out;
    }
}
