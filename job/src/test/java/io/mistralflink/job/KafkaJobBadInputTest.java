package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad input goes to the dead-letter topic with its reason while the inference job keeps going (no
 * restarts allowed: a failure would end it): bytes that are not Avro, an unknown schema fingerprint,
 * a prompt longer than the context, negative and absurd max tokens, temperature NaN and negative,
 * top_p outside (0, 1], an empty prompt, chat messages for a model without a template, and a duplicate
 * request id while the first is in flight. Good requests around them are answered.
 */
@Timeout(150)
class KafkaJobBadInputTest {
    private record Case(String key, byte[] value, String reason) {}

    private static GenerationRequest req(String id, Consumer<GenerationRequest.Builder> edit) {
        GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId(id).setPrompt("The jury said").setMaxNewTokens(6);
        edit.accept(b);
        return b.build();
    }

    private static Case bad(String id, Consumer<GenerationRequest.Builder> edit, String reason) {
        return new Case(id, WireCodec.encode(req(id, edit)), reason);
    }

    @Test void badInputIsDeadLetteredWithItsReasonAndTheJobKeepsGoing() throws Exception {
        PipelineConfig config = PipelineConfig.builder(KafkaJobSupport.model().toString()).lanes(2).sequencesPerLane(4).threadsPerStage(1).build();
        List<Case> cases = new ArrayList<>();
        cases.add(new Case("good-1", WireCodec.encode(req("good-1", b -> {})), null));
        cases.add(new Case("not-avro", "{\"prompt\": \"hi\"}".getBytes(StandardCharsets.UTF_8), "not_avro: "));
        byte[] unknown = WireCodec.encode(req("unknown-fp", b -> {}));
        unknown[2] ^= (byte) 0xFF;
        cases.add(new Case("unknown-fp", unknown, "unknown_schema: unknown schema fingerprint"));
        cases.add(bad("too-long", b -> b.setPrompt("the jury said ".repeat(3000)), "prompt_too_long: prompt of "));
        cases.add(bad("neg-max", b -> b.setMaxNewTokens(-3), "invalid_request: max_new_tokens is -3, must be >= 1"));
        cases.add(bad("absurd-max", b -> b.setMaxNewTokens(2_000_000_000), "invalid_request: max_new_tokens is 2000000000, above the limit of 512"));
        cases.add(bad("nan-temp", b -> b.setTemperature(Float.NaN), "invalid_request: temperature is NaN"));
        cases.add(bad("neg-temp", b -> b.setTemperature(-0.5f), "invalid_request: temperature is -0.5"));
        cases.add(bad("top-p-0", b -> b.setTopP(0f), "invalid_request: top_p is 0.0, must be in (0, 1]"));
        cases.add(bad("top-p-big", b -> b.setTopP(1.01f), "invalid_request: top_p is 1.01, must be in (0, 1]"));
        cases.add(bad("empty", b -> b.setPrompt(""), "invalid_request: empty prompt"));
        cases.add(bad("no-template", b -> b.setPrompt(null).setMessages(List.of(new ChatMessage("user", "Hi"))),
                "no_chat_template: the model tiny-mistral has no chat_template"));
        // the first "dup" generates 300 tokens; its twin arrives while it is in flight
        cases.add(new Case("dup", WireCodec.encode(req("dup", b -> b.setMaxNewTokens(300).setIgnoreEos(true))), null));
        cases.add(new Case("dup", WireCodec.encode(req("dup", b -> b.setMetadata(Map.of("copy", "2")))), "refused: duplicate request id while the first is in flight"));
        cases.add(new Case("good-2", WireCodec.encode(req("good-2", b -> b.setTemperature(0.7f).setSeed(3L))), null));

        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start();
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions");
             KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(kafka, "dead-letters");
             KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
            Map<String, Case> badAt = new LinkedHashMap<>();
            for (Case c : cases) {
                var md = producer.send(new ProducerRecord<>("prompts", c.key.getBytes(StandardCharsets.UTF_8), c.value)).get();
                if (c.reason != null) badAt.put(md.partition() + "@" + md.offset(), c);
            }
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.noRestarts(), KafkaJobSupport.options(config, 512));
            try {
                int bad = badAt.size();
                deadLetters.atLeast(bad, Duration.ofSeconds(90), Duration.ZERO);
                completions.atLeast(3, Duration.ofSeconds(90), Duration.ZERO);
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS), "bad input did not stop the job");
                // and it keeps serving
                producer.send(new ProducerRecord<>("prompts", "good-3".getBytes(StandardCharsets.UTF_8), WireCodec.encode(req("good-3", b -> {})))).get();
                completions.atLeast(4, Duration.ofSeconds(60), Duration.ofSeconds(1));
                deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300));
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS));
            } finally {
                Jobs.cancelAndWait(job);
            }
            assertEquals(List.of("dup", "good-1", "good-2", "good-3"),
                    completions.completions().stream().map(Completion::getRequestId).sorted().toList(), "good requests, once each");
            Completion dup = completions.completions().stream().filter(c -> c.getRequestId().equals("dup")).findFirst().orElseThrow();
            assertEquals(300, dup.getCompletionTokens(), "the first 'dup' is the one answered: " + dup + "; dead letters "
                    + deadLetters.records.stream().map(r -> WireCodec.decodeDeadLetter(r.value())).filter(d -> "dup".equals(d.getRequestId())).toList());

            assertEquals(badAt.size(), deadLetters.records.size(), "one dead letter per bad record: "
                    + deadLetters.records.stream().map(r -> WireCodec.decodeDeadLetter(r.value()).getReason()).toList());
            for (ConsumerRecord<byte[], byte[]> r : deadLetters.records) {
                DeadLetter d = WireCodec.decodeDeadLetter(r.value());
                assertEquals("prompts", d.getTopic());
                Case c = badAt.remove(d.getPartition() + "@" + d.getOffset());
                assertNotNull(c, "unexpected or duplicate dead letter " + d);
                assertTrue(d.getReason().startsWith(c.reason), c.key + ": " + d.getReason());
                assertEquals(ByteBuffer.wrap(c.value), d.getOriginal(), c.key + ": original bytes");
                if (d.getRequestId() != null) assertEquals(c.key, new String(r.key(), StandardCharsets.UTF_8));
            }
            assertTrue(badAt.isEmpty(), "missing dead letters: " + badAt.values());
        }
    }

    private static KafkaProducer<byte[], byte[]> producer(EmbeddedKafka kafka) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }
}
