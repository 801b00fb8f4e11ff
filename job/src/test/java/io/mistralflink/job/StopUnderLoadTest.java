package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A stop with a savepoint under full load does not wait for the running generations: 8 long
 * generations decoding in 2 lanes x 4 and 24 more requests waiting (run's shape: one stage chained to
 * the scheduler). The savepoint is taken within seconds (it took 23.6 s, until all were answered,
 * before the scheduler let waiting requests wait in state and stopped its step loop at the stop), and
 * the job resumed from it answers every request exactly once, as the engine alone does.
 */
@Timeout(300)
class StopUnderLoadTest {
    /** A bound with a wide margin for a loaded 2-core CI machine; it takes 1-3 s here. */
    static final long STOP_BOUND_MS = 15_000;

    @Test void aStopWithASavepointUnderLoadTakesSecondsAndTheResumeAnswersEveryRequestOnce(@TempDir Path savepoints) throws Exception {
        Path model = KafkaJobSupport.model();
        List<GenerationRequest> warm = KafkaJobSupport.requests("warm-", 4, 8, 16, 23);
        List<GenerationRequest> load = new ArrayList<>();
        for (GenerationRequest r : KafkaJobSupport.requests("long-", 8, 350, 450, 29)) { r.setIgnoreEos(true); load.add(r); }
        load.addAll(KafkaJobSupport.requests("queued-", 24, 24, 64, 31));
        List<GenerationRequest> all = new ArrayList<>(warm);
        all.addAll(load);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, all);
        PipelineConfig config = PipelineConfig.builder(model.toString()).lanes(2).sequencesPerLane(4).threadsPerStage(1).build();
        try (KafkaJobSupport.Broker kafka = KafkaJobSupport.embedded(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
            KafkaJobSupport.produce(kafka, warm);
            JobClient job = KafkaJobSupport.start(kafka, config, KafkaJobSupport.noRestarts(), KafkaJobSupport.options(config, 512));
            long tookMs;
            String savepoint;
            try {
                completions.atLeast(warm.size(), Duration.ofSeconds(90), Duration.ZERO);
                KafkaJobSupport.produce(kafka, load.subList(0, 8));
                Thread.sleep(500); // the long ones admitted first, filling the lanes
                KafkaJobSupport.produce(kafka, load.subList(8, load.size()));
                Thread.sleep(1500); // decoding, the rest waiting
                long t0 = System.nanoTime();
                savepoint = job.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL).get(120, TimeUnit.SECONDS);
                tookMs = (System.nanoTime() - t0) / 1_000_000;
            } catch (Exception e) {
                Jobs.cancelAndWait(job);
                throw e;
            }
            int beforeStop = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(1500)).size();
            System.out.println("stop under load: stop-with-savepoint took " + tookMs + " ms; " + beforeStop + " of " + all.size() + " answered before it");
            assertTrue(tookMs < STOP_BOUND_MS, "stop-with-savepoint took " + tookMs + " ms");
            assertTrue(beforeStop < all.size() - 8, "the stop waited for the generations: " + beforeStop + " answered");

            KafkaJobSupport.resumeUntil(kafka, config, savepoint, completions, all.size());
            System.out.println("stop under load: sent " + all.size() + ", answered " + completions.completions().size() + " (" + beforeStop + " before the stop)");
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
        }
    }
}
