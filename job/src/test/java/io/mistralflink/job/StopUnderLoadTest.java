package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.cluster.FlinkRest;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoints and a stop with a savepoint under a backlog far beyond the scheduler's waiting room: 8
 * long generations decoding in 2 lanes x 4 (run's shape: one stage chained to the scheduler) and 320
 * more requests queued behind them, 10 times the waiting room (4 x L x S = 32). The source reads only
 * what the room has free ({@code AdmissionGate}), so the scheduler never holds its input and
 * no barrier waits behind requests: checkpoints keep completing at about their interval (Flink's own
 * checkpoint statistics, from its REST API on loopback), the savepoint is taken within seconds (it
 * took until sequences finished before), and the job resumed from it answers every request exactly
 * once, as the engine alone does.
 */
@Timeout(300)
class StopUnderLoadTest {
    /** A bound with a wide margin for a loaded 2-core CI machine; it takes 1-3 s here. */
    static final long STOP_BOUND_MS = 15_000;
    /** Checkpoints every 200 ms: at least this many complete in the 3 s window (about 12 on a quiet machine). */
    static final int CHECKPOINTS_IN_WINDOW = 3;
    /** The scheduler's waiting room at 2 lanes x 4 (Scheduler.WAITING_PER_SLOT x L x S). */
    static final int WAITING_ROOM = 4 * 2 * 4;

    @Test void checkpointsAndAStopWithASavepointUnderABacklogTakeSecondsAndTheResumeAnswersEveryRequestOnce(@TempDir Path savepoints) throws Exception {
        Path model = KafkaJobSupport.model();
        List<GenerationRequest> warm = KafkaJobSupport.requests("warm-", 4, 8, 16, 23);
        List<GenerationRequest> load = new ArrayList<>();
        for (GenerationRequest r : KafkaJobSupport.requests("long-", 8, 1000, 1200, 29)) { r.setIgnoreEos(true); load.add(r); }
        List<GenerationRequest> backlog = KafkaJobSupport.requests("queued-", 10 * WAITING_ROOM, 2, 6, 31);
        load.addAll(backlog);
        List<GenerationRequest> all = new ArrayList<>(warm);
        all.addAll(load);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, all);
        PipelineConfig config = PipelineConfig.builder(model.toString()).lanes(2).sequencesPerLane(4).threadsPerStage(1).build();
        int port = freePort();
        Configuration conf = KafkaJobSupport.noRestarts();
        conf.set(RestOptions.PORT, port);
        conf.set(RestOptions.BIND_PORT, Integer.toString(port));
        FlinkRest rest = new FlinkRest("http://127.0.0.1:" + port);
        try (KafkaJobSupport.Broker kafka = KafkaJobSupport.embedded(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
            KafkaJobSupport.produce(kafka, warm);
            JobClient job = KafkaJobSupport.start(kafka, config, conf, KafkaJobSupport.options(config, 2048)); // the long ones ask for more than the helpers' 512
            String checkpoints = "/jobs/" + job.getJobID() + "/checkpoints";
            long tookMs, inWindow;
            int beforeWindowEnd;
            String savepoint;
            try {
                completions.atLeast(warm.size(), Duration.ofSeconds(90), Duration.ZERO);
                KafkaJobSupport.produce(kafka, load.subList(0, 8));
                Thread.sleep(500); // the long ones admitted first, filling the lanes
                KafkaJobSupport.produce(kafka, backlog);
                Thread.sleep(1000); // decoding, the backlog waiting
                long c0 = rest.get(checkpoints).path("counts").path("completed").asLong();
                Thread.sleep(3000);
                JsonNode stats = rest.get(checkpoints);
                inWindow = stats.path("counts").path("completed").asLong() - c0;
                beforeWindowEnd = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(200)).size();
                long t0 = System.nanoTime();
                savepoint = job.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL).get(120, TimeUnit.SECONDS);
                tookMs = (System.nanoTime() - t0) / 1_000_000;
            } catch (Exception e) {
                Jobs.cancelAndWait(job);
                throw e;
            }
            int beforeStop = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(1500)).size();
            System.out.println("stop under load: " + inWindow + " checkpoints completed in 3 s with " + (all.size() - beforeWindowEnd)
                    + " requests unanswered; stop-with-savepoint took " + tookMs + " ms; " + beforeStop + " of " + all.size() + " answered before it");
            assertTrue(inWindow >= CHECKPOINTS_IN_WINDOW, "checkpoints completed in 3 s under the backlog: " + inWindow);
            assertTrue(all.size() - beforeWindowEnd > 4 * WAITING_ROOM, "the backlog was still there: " + beforeWindowEnd + " answered");
            assertTrue(tookMs < STOP_BOUND_MS, "stop-with-savepoint took " + tookMs + " ms");
            assertTrue(beforeStop < all.size() - 8, "the stop waited for the generations: " + beforeStop + " answered");

            KafkaJobSupport.resumeUntil(kafka, config, savepoint, completions, all.size());
            List<String> ids = completions.completions().stream().map(c -> c.getRequestId().toString()).toList();
            System.out.println("stop under load: sent " + all.size() + ", answered " + ids.stream().distinct().count() + " (" + beforeStop
                    + " before the stop), duplicated " + (ids.size() - ids.stream().distinct().count()) + ", lost "
                    + all.stream().filter(r -> !ids.contains(r.getRequestId().toString())).count());
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) { return s.getLocalPort(); }
    }
}
