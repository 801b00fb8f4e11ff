package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.operators.pipeline.FailureInjection;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Failures in the middle of generation: a stage or the token feedback tail throws once (test hook
 * {@link FailureInjection}) while 8 sequences are in flight, some decoding and some still in a
 * chunked prefill (prompts up to ~200 tokens, 32-token step budget); the job restarts from its last
 * checkpoint (every 200 ms, fixed-delay restarts). And a stop with a savepoint, restarted from it with
 * other lanes, stages and parallelism. Either way every request gets exactly one completion
 * (read_committed) and the texts equal the engine alone's, i.e. an undisturbed run's.
 */
@Timeout(180)
class KafkaJobRecoveryTest {

    /** The broker this suite runs against (its {@code ContainerIT} twin: the broker container). */
    KafkaJobSupport.Broker broker(int partitions) { return KafkaJobSupport.embedded(partitions); }

    @AfterEach void disarm() { FailureInjection.disarm(); }

    @ParameterizedTest @EnumSource(value = FailureInjection.Point.class, names = {"STAGE", "FEEDBACK"}) // the points that arm() counts steps at
    void aFailureMidGenerationRestartsFromTheCheckpointAndAnswersEveryRequestOnce(FailureInjection.Point point) throws Exception {
        Path model = KafkaJobSupport.model();
        List<GenerationRequest> requests = KafkaJobSupport.requests("rec-", 48, 8, 32, 17);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, requests);
        PipelineConfig config = PipelineConfig.builder(model.toString()).stages(2).lanes(2).sequencesPerLane(4)
                .maxBatchTokens(32).threadsPerStage(1).build();
        FailureInjection.disarm();
        try (KafkaJobSupport.Broker kafka = broker(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
            // warm up: a first batch through, checkpoints completing (results are visible)
            KafkaJobSupport.produce(kafka, requests.subList(0, 8));
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.fixedDelayRestarts(3, 200), KafkaJobSupport.options(config, 512));
            try {
                completions.atLeast(8, Duration.ofSeconds(90), Duration.ZERO);
                // the 60th step of the second batch fails: lanes full, a checkpoint or more taken since it began
                FailureInjection.arm(point, 60);
                KafkaJobSupport.produce(kafka, requests.subList(8, requests.size()));
                completions.atLeast(requests.size(), Duration.ofSeconds(120), Duration.ofSeconds(2));
                assertEquals(1, FailureInjection.fired(point), point + " failed once");
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS), "recovered and running");
            } finally {
                Jobs.cancelAndWait(job);
            }
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
        }
    }

    @Test void stopWithASavepointAndResumeWithOtherLanesAndParallelism(@TempDir Path savepoints) throws Exception {
        Path model = KafkaJobSupport.model();
        // a warm-up batch, then 8 long generations (one full set of lanes, so the savepoint barrier is
        // not held up behind queued requests) that are still decoding when the savepoint is taken
        List<GenerationRequest> requests = new java.util.ArrayList<>(KafkaJobSupport.requests("sp-", 8, 8, 16, 23));
        for (GenerationRequest r : KafkaJobSupport.requests("sp-long-", 8, 300, 500, 29)) { r.setIgnoreEos(true); requests.add(r); }
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, requests);
        PipelineConfig first = PipelineConfig.builder(model.toString()).stages(2).lanes(2).sequencesPerLane(4)
                .maxBatchTokens(32).threadsPerStage(1).build();
        PipelineConfig second = first.toBuilder().stages(1).lanes(3).sequencesPerLane(3).parallelism(2).build();
        try (KafkaJobSupport.Broker kafka = broker(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
            KafkaJobSupport.produce(kafka, requests.subList(0, 8));
            JobClient job = KafkaJobSupport.start(kafka, first, KafkaJobSupport.noRestarts(), KafkaJobSupport.options(first, 512));
            String savepoint;
            try {
                completions.atLeast(8, Duration.ofSeconds(90), Duration.ZERO); // warm
                KafkaJobSupport.produce(kafka, requests.subList(8, requests.size()));
                Thread.sleep(300); // the long ones admitted and decoding
                long t0 = System.currentTimeMillis();
                savepoint = job.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL).get(90, TimeUnit.SECONDS);
                System.out.println("savepoint test: stop-with-savepoint took " + (System.currentTimeMillis() - t0) + " ms");
            } catch (Exception e) {
                Jobs.cancelAndWait(job);
                throw e;
            }
            int beforeStop = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(500)).size();
            System.out.println("savepoint test: answered before the stop: " + completions.completions().stream().map(c -> c.getRequestId() + "@" + c.getTimings().getDecodeMs()).toList());
            assertTrue(beforeStop < requests.size(), "the first run answered everything before the savepoint: nothing to resume");

            KafkaJobSupport.resumeUntil(kafka, second, savepoint, completions, requests.size());
            System.out.println("savepoint test: " + beforeStop + " answered before the stop, " + (requests.size() - beforeStop) + " after the resume");
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
        }
    }
}
