package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.CraftedRecords;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Records crafted to stall the job, on a job that allows no restart (a failure would end it): a
 * 49-byte record whose {@code stop_token_ids} declares two billion items (Avro would allocate them:
 * OutOfMemoryError), a prompt of a megabyte (its dead letter, the original bytes included, would
 * not fit the producer's max.request.size), and a prompt that is not valid UTF-8. Each becomes one
 * dead letter, named by its Kafka key, and the good requests around them are answered.
 */
@Timeout(150)
class KafkaJobPoisonTest {

    static GenerationRequest request(String id, String prompt) {
        return GenerationRequest.newBuilder().setRequestId(id).setPrompt(prompt).setMaxNewTokens(6).build();
    }

    @Test void poisonBecomesDeadLettersAndTheJobKeepsAnswering() throws Exception {
        byte[] poison = CraftedRecords.twoBillionStopTokenIds();
        assertEquals(49, poison.length);
        byte[] huge = WireCodec.encode(request("huge", "the jury said ".repeat(1_000_000 / 14)));
        assertTrue(huge.length > 990_000, "a megabyte: " + huge.length);
        byte[] badUtf8 = CraftedRecords.invalidUtf8(request("bad-utf8", "The jury said XX"));
        Map<String, byte[]> bad = Map.of("poison-49", poison, "huge", huge, "bad-utf8", badUtf8);

        PipelineConfig config = PipelineConfig.builder(KafkaJobSupport.model().toString()).lanes(1).sequencesPerLane(4).threadsPerStage(1).build();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().start();
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions");
             KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(kafka, "dead-letters");
             KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
            send(producer, "good-1", WireCodec.encode(request("good-1", "The jury said")));
            for (var e : bad.entrySet()) send(producer, e.getKey(), e.getValue());
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.noRestarts(), KafkaJobSupport.options(config, 512));
            try {
                deadLetters.atLeast(bad.size(), Duration.ofSeconds(90), Duration.ZERO);
                send(producer, "good-2", WireCodec.encode(request("good-2", "It was")));
                completions.atLeast(2, Duration.ofSeconds(90), Duration.ofSeconds(1));
                deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300));
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS), "the job did not fail");
            } finally {
                Jobs.cancelAndWait(job);
            }
            assertEquals(List.of("good-1", "good-2"), completions.completions().stream().map(Completion::getRequestId).sorted().toList());
            Map<String, DeadLetter> byKey = new HashMap<>();
            deadLetters.records.forEach(r -> byKey.put(new String(r.key(), StandardCharsets.UTF_8), WireCodec.decodeDeadLetter(r.value())));
            assertEquals(bad.keySet(), byKey.keySet(), "one dead letter each, keyed by its record's key");
            assertEquals(bad.size(), deadLetters.records.size());

            DeadLetter p = byKey.get("poison-49");
            assertEquals("poison-49", p.getRequestId(), "named by the Kafka key: the value does not decode");
            assertTrue(p.getReason().startsWith("corrupt: ") && p.getReason().contains("2000000000 items"), p.getReason());
            assertEquals(ByteBuffer.wrap(poison), p.getOriginal());
            assertNull(p.getOriginalLength());

            DeadLetter u = byKey.get("bad-utf8");
            assertTrue(u.getReason().startsWith("corrupt: ") && u.getReason().contains("not valid UTF-8"), u.getReason());
            assertEquals("bad-utf8", u.getRequestId());

            DeadLetter h = byKey.get("huge");
            assertTrue(h.getReason().startsWith("prompt_too_long: "), h.getReason());
            assertEquals(huge.length, h.getOriginalLength());
            assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(huge)), h.getOriginalSha256());
            byte[] head = new byte[h.getOriginal().remaining()];
            h.getOriginal().duplicate().get(head);
            assertTrue(head.length > 0 && head.length < huge.length / 2 + 1, "cut: " + head.length);
            assertArrayEquals(Arrays.copyOf(huge, head.length), head, "the first bytes of the original");
        }
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, String key, byte[] value) throws Exception {
        producer.send(new ProducerRecord<>("prompts", key.getBytes(StandardCharsets.UTF_8), value)).get();
    }

    private static KafkaProducer<byte[], byte[]> producer(EmbeddedKafka kafka) {
        Properties p = KafkaIo.bytesProducer(kafka.bootstrapServers());
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(2 << 20));
        return new KafkaProducer<>(p);
    }
}
