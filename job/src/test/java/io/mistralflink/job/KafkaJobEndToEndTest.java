package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.KafkaJob;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Requests produced to Kafka come back on the completions topic (read_committed) exactly once, each
 * equal to what the engine alone generates: greedy and seeded, prompts and chat messages (rendered
 * with the checkpoint's template), over two stages. No restarts allowed.
 */
@Timeout(180)
class KafkaJobEndToEndTest {

    /** The broker this suite runs against (its {@code ContainerIT} twin: the broker container). */
    KafkaJobSupport.Broker broker(int partitions) { return KafkaJobSupport.embedded(partitions); }

    @Test void completionsEqualTheEngineAloneExactlyOnce() throws Exception {
        Path model = KafkaJobSupport.chatModel();
        List<GenerationRequest> requests = new ArrayList<>(KafkaJobSupport.requests("e2e-", 40, 1, 24, 5));
        requests.add(KafkaJobSupport.chat("chat-1", List.of(new ChatMessage("user", "Tell me about the city council.")), 12));
        requests.add(KafkaJobSupport.chat("chat-2", List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"),
                new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "What did the jury say?")), 12));
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, requests);
        PipelineConfig config = PipelineConfig.builder(model.toString()).stages(2).lanes(2).sequencesPerLane(8)
                .maxBatchTokens(128).threadsPerStage(1).build();
        try (KafkaJobSupport.Broker kafka = broker(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions");
             KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(kafka, "dead-letters")) {
            long t0 = System.currentTimeMillis();
            KafkaJobSupport.produce(kafka, requests.subList(0, 20));
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.noRestarts(), KafkaJobSupport.options(config, 512));
            try {
                completions.atLeast(10, Duration.ofSeconds(90), Duration.ZERO);
                KafkaJobSupport.produce(kafka, requests.subList(20, requests.size())); // while the job runs
                completions.atLeast(requests.size(), Duration.ofSeconds(90), Duration.ofSeconds(1));
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS));
            } finally {
                Jobs.cancelAndWait(job);
            }
            long wallMs = System.currentTimeMillis() - t0, computeMs = 0;
            List<Completion> got = completions.completions();
            KafkaJobSupport.assertMatchesEngine(want, got, model.getFileName().toString());
            for (Completion c : got) {
                if (c.getRequestId().startsWith("e2e-"))
                    assertEquals(Map.of("n", c.getRequestId().substring(4)), c.getMetadata(), "metadata echoed, nothing added");
                var t = c.getTimings();
                // each request's time in the pipeline is a part of the run's: neither negative nor longer than it
                long spent = t.getQueuedMs() + t.getPrefillMs() + t.getDecodeMs();
                assertTrue(t.getQueuedMs() >= 0 && t.getPrefillMs() >= 0 && t.getDecodeMs() >= 0 && spent <= wallMs,
                        c.getRequestId() + ": " + t + " within the run's " + wallMs + " ms");
                computeMs += t.getPrefillMs() + t.getDecodeMs();
            }
            assertTrue(computeMs > 0, "the prefill and decode times of " + got.size() + " completions are measured, not all 0 ms");
            assertTrue(deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300)).isEmpty(), "no dead letters");
        }
    }

    /**
     * {@code run --until-latest}, a scheduled batch over Kafka: a run answers the prompts that were on the
     * topic when it started and finishes by itself; a second run with the same group answers only what was
     * produced after the first began. Every request exactly once, as the engine answers it.
     */
    @Test void untilLatestRunsAnswerWhatWasThereAndFinish() throws Exception {
        Path model = KafkaJobSupport.model();
        List<GenerationRequest> first = KafkaJobSupport.requests("first-", 12, 1, 16, 7), second = KafkaJobSupport.requests("second-", 6, 1, 16, 8);
        List<GenerationRequest> all = new ArrayList<>(first);
        all.addAll(second);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, all);
        PipelineConfig config = PipelineConfig.builder(model.toString()).stages(2).lanes(2).sequencesPerLane(8)
                .maxBatchTokens(128).threadsPerStage(1).build();
        KafkaJob.Options options = KafkaJobSupport.options(config, 512).untilLatest(true);
        try (KafkaJobSupport.Broker kafka = broker(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
            KafkaJobSupport.produce(kafka, first);
            Map<TopicPartition, Long> end = KafkaJobSupport.endOffsets(kafka);
            Map<TopicPartition, OffsetAndMetadata> committed = KafkaJobSupport.runBounded(kafka, config, KafkaJobSupport.noRestarts(), options);
            // where the next run starts: committed by the time the run has ended (under load the source's own
            // asynchronous commit at the final checkpoint came too late, and a next run answered all again)
            end.forEach((tp, offset) -> assertEquals(offset, committed.get(tp) == null ? null : committed.get(tp).offset(), "committed offset of " + tp));
            assertEquals(first.size(), completions.atLeast(first.size(), Duration.ofSeconds(10), Duration.ofMillis(500)).size(),
                    "the first run answered what it found, and nothing more");
            KafkaJobSupport.produce(kafka, second);
            KafkaJobSupport.runBounded(kafka, config, KafkaJobSupport.noRestarts(), options);
            completions.atLeast(all.size(), Duration.ofSeconds(10), Duration.ofSeconds(1));
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), model.getFileName().toString());
        }
    }
}
