package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Backpressure and a broker restart, with the real inference job.
 *
 * <p>Backpressure: 2,000 short requests on a budget of 2 lanes x 4 sequences. The scheduler stops
 * taking input while the lanes and its waiting room are full, so the requests wait in Kafka, not in
 * the heap: every one completes exactly once (no deadlock: a minute without a new answer fails; a
 * slow machine may take longer), and the heap used after a full GC, sampled every 2 s during the run,
 * stays within 128 MB of what it was before the job started. The job itself holds at most 8 running
 * and 32 waiting requests (a few KB each) in the scheduler, fixed-size Kafka fetch buffers (a few MB
 * for 2 partitions) and Flink's network buffers (off-heap); a per-request leak of 64 KB or more would
 * cross the bound.
 */
@Timeout(600)
class KafkaJobLoadTest {
    static final long HEAP_GROWTH_BOUND = 128L << 20;

    @Test void twoThousandRequestsOnTwoLanesCompleteWithBoundedHeap() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>();
        String[] words = {"The jury", "Fulton County", "the city", "Atlanta's recent primary election", "an investigation", "irregularities"};
        for (int i = 0; i < 2000; i++)
            requests.add(GenerationRequest.newBuilder().setRequestId("bp-" + i).setPrompt(words[i % words.length] + " " + i)
                    .setMaxNewTokens(1 + i % 2).setMetadata(Map.of()).build());
        PipelineConfig config = PipelineConfig.builder(KafkaJobSupport.model().toString()).lanes(2).sequencesPerLane(4)
                .maxBatchTokens(64).threadsPerStage(1).build();
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start();
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
            KafkaJobSupport.produce(kafka, requests);
            System.gc();
            long baseline = memory.getHeapMemoryUsage().getUsed();
            AtomicLong peak = new AtomicLong();
            long t0 = System.nanoTime();
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.noRestarts(), KafkaJobSupport.options(config, 512));
            Thread sampler = Thread.ofPlatform().daemon().start(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    System.gc();
                    peak.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
                    try { Thread.sleep(2000); } catch (InterruptedException e) { return; }
                }
            });
            try {
                completions.until(r -> r.size() >= requests.size(), Duration.ofSeconds(540), Duration.ofSeconds(60), Duration.ofSeconds(1));
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS));
            } finally {
                sampler.interrupt();
                sampler.join();
                Jobs.cancelAndWait(job);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            List<Completion> got = completions.completions();
            Set<String> ids = new HashSet<>();
            for (Completion c : got) assertTrue(ids.add(c.getRequestId()), "answered twice: " + c.getRequestId());
            assertEquals(requests.size(), got.size());
            long growth = peak.get() - baseline;
            System.out.printf("backpressure: %d requests in %.1f s; heap after GC: baseline %d MB, peak %d MB (growth %d MB, bound %d MB)%n",
                    got.size(), seconds, baseline >> 20, peak.get() >> 20, growth >> 20, HEAP_GROWTH_BOUND >> 20);
            assertTrue(growth < HEAP_GROWTH_BOUND, "heap grew by " + (growth >> 20) + " MB");
        }
    }

    /** The broker restarts while the inference job runs: fixed-delay restarts, every request answered once. */
    @Test void aBrokerRestartDuringARunIsSurvived() throws Exception {
        List<GenerationRequest> requests = KafkaJobSupport.requests("br-", 32, 4, 16, 31);
        PipelineConfig config = PipelineConfig.builder(KafkaJobSupport.model().toString()).lanes(2).sequencesPerLane(4).threadsPerStage(1).build();
        var want = KafkaJobSupport.oracle(KafkaJobSupport.model(), requests);
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start()) {
            KafkaJobSupport.produce(kafka, requests.subList(0, 16));
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.fixedDelayRestarts(20, 1000), KafkaJobSupport.options(config, 512));
            try {
                try (KafkaJobSupport.Reader first = new KafkaJobSupport.Reader(kafka, "completions")) {
                    first.atLeast(8, Duration.ofSeconds(90), Duration.ZERO);
                }
                kafka.restartBroker();
                KafkaJobSupport.produce(kafka, requests.subList(16, 32));
                try (KafkaJobSupport.Reader all = new KafkaJobSupport.Reader(kafka, "completions")) {
                    all.atLeast(32, Duration.ofSeconds(120), Duration.ofSeconds(2));
                    assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS));
                    KafkaJobSupport.assertMatchesEngine(want, all.completions(), "tiny-mistral");
                }
            } finally {
                Jobs.cancelAndWait(job);
            }
        }
    }
}
