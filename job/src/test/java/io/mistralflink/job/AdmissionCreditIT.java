package io.mistralflink.job;

import io.mistralflink.job.cluster.FlinkClient;
import io.mistralflink.job.cluster.FlinkRest;
import io.mistralflink.job.cluster.KafkaBrokerProcess;
import io.mistralflink.job.cluster.StandaloneCluster;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The admission credit across TaskManagers: a JobManager, two TaskManagers of one slot each and a
 * broker, each its own JVM on 127.0.0.1; the Kafka job with two replicas (one per TaskManager), its
 * prompts topic of two partitions, so each source subtask reads one. Every request is keyed to
 * scheduler 1, which is thus fed by the source on the other TaskManager too: 8 long generations fill its
 * lanes (2 x 4) and a backlog of 40 times its waiting room (4 x L x S = 32) queues behind them. The
 * gate's ledger in the JobManager (what the sources were granted, what the meters passed toward the
 * schedulers, what the schedulers took in) grants the sources on both TaskManagers no more than the
 * two rooms hold: scheduler 1 never has more than that waiting (its waiting room, sampled through
 * Flink's REST metrics), checkpoints complete at their interval (Flink's REST statistics, beside the same window idle), no
 * source has read its partition to the end (Flink's per-subtask record counts against the partitions'
 * end offsets: a source that did not hear of the full room reads all of it), the savepoint of a stop
 * takes well under a second by Flink's statistics, and the job resumed from it answers every request
 * exactly once, as the engine alone.
 */
@Timeout(600)
class AdmissionCreditIT {
    static final int LANES = 2, PER_LANE = 4;
    static final int WAITING_ROOM = 4 * LANES * PER_LANE;
    static final int BACKLOG = 40 * WAITING_ROOM;
    /** Checkpoints every 200 ms: at least this many complete in a window of {@link #WINDOW_MS} under the backlog. */
    static final int CHECKPOINTS_IN_WINDOW = 3;
    static final long WINDOW_MS = 5000;
    /**
     * The savepoint's own time (trigger to completion, from Flink's checkpoint statistics): about 1 s
     * here; a stop that waits for the generations takes tens of seconds. A 3x margin over this machine's
     * slowest for CI's (up to 1.3x slower).
     */
    static final long SAVEPOINT_BOUND_MS = 15_000;
    static final String GROUP = "credit-it";
    /**
     * What scheduler 1 may have waiting: what the gate holds out, the two schedulers' rooms, and what
     * the ledger may not have heard of yet, a few per meter ({@code AdmissionGate.reportEvery}, room / 8).
     */
    static final int MAX_WAITING = 2 * WAITING_ROOM + 2 * (WAITING_ROOM / 8);

    @Test void aFullRoomOnOneTaskManagerStopsTheSourcesOnBoth(@TempDir Path dir) throws Exception {
        Path model = KafkaJobSupport.model();
        Path jar = StandaloneCluster.jobCode().filter(p -> p.toString().endsWith(".jar"))
                .orElseThrow(() -> new AssertionError("run by failsafe after package: the job's jar is submitted"));
        List<GenerationRequest> warm = KafkaJobSupport.requests("warm-", 4, 8, 16, 23);
        List<GenerationRequest> load = new ArrayList<>();
        for (GenerationRequest r : toScheduler(1, KafkaJobSupport.requests("long-", 8, 1200, 1400, 29))) {
            r.setIgnoreEos(true);
            r.setStop(List.of()); // no early end: scheduler 1's lanes stay full past the stop (>= 10 s here), its room takes nothing in
            load.add(r);
        }
        List<GenerationRequest> backlog = toScheduler(1, KafkaJobSupport.requests("queued-", BACKLOG, 2, 6, 31));
        load.addAll(backlog);
        List<GenerationRequest> all = new ArrayList<>(warm);
        all.addAll(load);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, all);

        long t0 = System.nanoTime();
        Map<String, String> conf = new java.util.HashMap<>(StandaloneCluster.defaults(dir, 1));
        conf.put("metrics.fetcher.update-interval", "200"); // the scheduler's waiting room, sampled through REST
        try (StandaloneCluster cluster = StandaloneCluster.start(dir, conf, 2, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(240));
             KafkaBrokerProcess kafka = KafkaBrokerProcess.start(dir, cluster.classpath(), Map.of(), Duration.ofSeconds(120))) {
            System.out.printf("credit IT: JobManager, 2 TaskManagers of 1 slot and a broker up in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            EmbeddedKafka.createTopics(kafka.bootstrapServers(), Map.of("prompts", 2, "completions", 2, "dead-letters", 2));
            List<String> args = List.of("--model", model.toString(), "--bootstrap-servers", kafka.bootstrapServers(),
                    "--checkpoint-interval-ms", "200", "--group-id", GROUP, "--transactional-id-prefix", "credit-it", "--threads", "1",
                    "--parallelism", "2", "--lanes", Integer.toString(LANES), "--sequences-per-lane", Integer.toString(PER_LANE));
            FlinkClient client = cluster.client();
            FlinkRest rest = cluster.rest();
            try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka.bootstrapServers(), "completions")) {
                String job = client.submit(jar, List.of(), args), resumed = null;
                try {
                    List<FlinkRest.Subtask> subtasks = awaitRunning(rest, job);
                    String source = on(subtasks, "Source: prompts", 0), scheduler = on(subtasks, "scheduler", 1);
                    System.out.println("credit IT: source 0 on " + source + ", scheduler 1 on " + scheduler + "; " + subtasks);
                    assertNotEquals(source, scheduler, "scheduler 1 is fed from the other TaskManager's source");

                    Produce.all(kafka.bootstrapServers(), "prompts", warm);
                    completions.atLeast(warm.size(), Duration.ofSeconds(120), Duration.ZERO);
                    String checkpoints = "/jobs/" + job + "/checkpoints";
                    Window idle = window(rest, job); // the same window with nothing to do: what this machine allows now
                    Produce.all(kafka.bootstrapServers(), "prompts", load.subList(0, 8));
                    Thread.sleep(500); // the long ones admitted first, filling scheduler 1's lanes
                    Produce.all(kafka.bootstrapServers(), "prompts", backlog);
                    // scheduler 1's room fills with what the gate holds out (the two rooms); then the backlog waits in Kafka
                    Settled settled = settle(rest, job);
                    Window loaded = window(rest, job);
                    List<Long> read = sourceRecordsOut(rest, job);
                    Map<Integer, Long> unread = unread(kafka.bootstrapServers());
                    int answered = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(200)).size();

                    long s0 = System.nanoTime();
                    String savepoint = client.stopWithSavepoint(job, cluster.savepointDir());
                    long stopMs = (System.nanoTime() - s0) / 1_000_000;
                    long savepointMs = rest.get(checkpoints).path("latest").path("savepoint").path("end_to_end_duration").asLong(-1);
                    job = null;
                    int beforeStop = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(1500)).size();
                    long longBefore = completions.completions().stream().filter(c -> c.getRequestId().toString().startsWith("long-")).count();
                    System.out.println("credit IT: the room filled in " + settled.ms() + " ms (at most " + settled.maxWaiting() + " waiting meanwhile); checkpoints completed in " + WINDOW_MS + " ms: " + idle.completed() + " idle " + idle.took() + ", "
                            + loaded.completed() + " under the backlog " + loaded.took() + " (ms each), with " + (all.size() - answered)
                            + " requests unanswered, at most " + loaded.maxWaiting() + " waiting in scheduler 1 (its room " + WAITING_ROOM + "; it generated "
                            + loaded.tokensPerSecond() + " tok/s), "
                            + read + " of " + all.size() + " read by source 0, 1; the group's commits lag (the gated reader's fetcher waits too): "
                            + unread + " per partition past them; the savepoint took " + savepointMs + " ms, flink stop " + stopMs + " ms; " + beforeStop + " of " + all.size() + " answered before it (" + longBefore + " of the 8 long)");
                    long maxWaiting = Math.max(settled.maxWaiting(), loaded.maxWaiting());
                    assertTrue(maxWaiting >= WAITING_ROOM && maxWaiting <= MAX_WAITING, "scheduler 1 had at most " + maxWaiting + " waiting: not the room's " + WAITING_ROOM + " to " + MAX_WAITING + " that the gate holds out");
                    assertTrue(loaded.completed() >= CHECKPOINTS_IN_WINDOW, "checkpoints completed in " + WINDOW_MS + " ms under the backlog: " + loaded);
                    long partition = Collections.min(ends(kafka.bootstrapServers()).values());
                    for (long r : read) // a source that did not hear of scheduler 1's room reads all its partition
                        assertTrue(r < partition * 3 / 4, "the sources read " + read + " of partitions of " + partition + " and more: the backlog did not stay in Kafka");
                    assertTrue(savepointMs >= 0 && savepointMs < SAVEPOINT_BOUND_MS, "the savepoint took " + savepointMs + " ms");

                    resumed = client.submit(jar, List.of(), with(args, "--savepoint", savepoint));
                    long r0 = System.nanoTime();
                    completions.atLeast(all.size(), Duration.ofSeconds(300), Duration.ofSeconds(2));
                    System.out.printf("credit IT: resumed, the rest answered in %.1f s%n", (System.nanoTime() - r0) / 1e9);
                    assertEquals("RUNNING", rest.jobState(resumed));
                    List<String> ids = completions.completions().stream().map(c -> c.getRequestId().toString()).toList();
                    long distinct = ids.stream().distinct().count();
                    System.out.println("credit IT: sent " + all.size() + ", answered " + distinct + " (" + beforeStop + " before the stop), duplicated "
                            + (ids.size() - distinct) + ", lost " + all.stream().filter(r -> !ids.contains(r.getRequestId().toString())).count());
                } finally {
                    if (job != null) client.cancel(job);
                    if (resumed != null) client.cancel(resumed);
                }
                KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
            }
        }
    }

    /** The requests with ids (suffixed) that the job's keying sends to scheduler subtask {@code subtask} of 2. */
    static List<GenerationRequest> toScheduler(int subtask, List<GenerationRequest> requests) {
        for (GenerationRequest r : requests) {
            String id = r.getRequestId().toString();
            for (int n = 0; KeyGroupRangeAssignment.assignKeyToParallelOperator(id, KeyGroupRangeAssignment.computeDefaultMaxParallelism(2), 2) != subtask; n++)
                id = r.getRequestId() + "." + n;
            r.setRequestId(id);
        }
        return requests;
    }

    /** Checkpoints completed in a window (and their durations), and the most requests seen waiting in scheduler 1 meanwhile. */
    record Window(long completed, List<Long> took, long maxWaiting, long tokensPerSecond) {}

    /** The next {@link #WINDOW_MS}: checkpoints from Flink's statistics, scheduler 1's waiting room sampled every 100 ms (-1: no such metric). */
    static Window window(FlinkRest rest, String job) throws Exception {
        String path = "/jobs/" + job + "/checkpoints";
        String waiting = "/jobs/" + job + "/vertices/" + vertex(rest, job, "scheduler") + "/subtasks/1/metrics?get=scheduler.inference.waitingRequests,scheduler.inference.generatedTokens";
        long c0 = rest.get(path).path("counts").path("completed").asLong();
        long last = rest.get(path).path("latest").path("completed").path("id").asLong(-1);
        long max = -1, first = -1, tokens = -1, end = System.nanoTime() + WINDOW_MS * 1_000_000;
        while (System.nanoTime() < end) {
            for (var m : rest.get(waiting)) {
                if (m.path("id").asText().endsWith("waitingRequests")) max = Math.max(max, m.path("value").asLong(-1));
                else tokens = m.path("value").asLong(-1);
            }
            if (first < 0) first = tokens;
            Thread.sleep(100);
        }
        var stats = rest.get(path);
        List<Long> took = new ArrayList<>();
        for (var c : stats.path("history"))
            if (c.path("id").asLong() > last && c.path("status").asText().equals("COMPLETED")) took.add(c.path("end_to_end_duration").asLong());
        return new Window(stats.path("counts").path("completed").asLong() - c0, took.reversed(), max, (tokens - first) * 1000 / WINDOW_MS);
    }

    /** How long scheduler 1's room took to fill, and the most seen waiting in it meanwhile. */
    record Settled(long ms, long maxWaiting) {}

    /** Waits until scheduler 1's waiting room stops growing (the same count 1 s apart, 30 s at most), sampled every 200 ms. */
    static Settled settle(FlinkRest rest, String job) throws Exception {
        String waiting = "/jobs/" + job + "/vertices/" + vertex(rest, job, "scheduler") + "/subtasks/1/metrics?get=scheduler.inference.waitingRequests";
        long t0 = System.nanoTime(), last = -2, max = -1;
        for (int n = 1; System.nanoTime() - t0 < 30_000_000_000L; n++) {
            Thread.sleep(200);
            long now = -1;
            for (var m : rest.get(waiting)) now = m.path("value").asLong(-1);
            max = Math.max(max, now);
            if (n % 5 != 0) continue;
            if (now == last && now >= WAITING_ROOM) break;
            last = now;
        }
        return new Settled((System.nanoTime() - t0) / 1_000_000, max);
    }

    /** Per source subtask, the records it has sent on to the schedulers (source and request preparation are chained). */
    static List<Long> sourceRecordsOut(FlinkRest rest, String job) throws Exception {
        List<Long> n = new ArrayList<>();
        for (var t : rest.get("/jobs/" + job + "/vertices/" + vertex(rest, job, "Source: prompts")).path("subtasks")) n.add(t.path("metrics").path("write-records").asLong());
        return n;
    }

    static String vertex(FlinkRest rest, String job, String prefix) throws Exception {
        for (var v : rest.get("/jobs/" + job).path("vertices")) if (v.path("name").asText().startsWith(prefix)) return v.path("id").asText();
        throw new AssertionError("no vertex " + prefix + " in job " + job);
    }

    /** Per partition of the prompts topic, its end offset. */
    static Map<Integer, Long> ends(String bootstrapServers) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
            Map<Integer, Long> out = new TreeMap<>();
            admin.listOffsets(Map.of(new TopicPartition("prompts", 0), OffsetSpec.latest(), new TopicPartition("prompts", 1), OffsetSpec.latest()))
                    .all().get().forEach((tp, end) -> out.put(tp.partition(), end.offset()));
            return out;
        }
    }

    /** Per partition of the prompts topic, the records past the group's committed offset (committed at each checkpoint). */
    static Map<Integer, Long> unread(String bootstrapServers) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get();
            Map<TopicPartition, OffsetSpec> latest = Map.of(new TopicPartition("prompts", 0), OffsetSpec.latest(), new TopicPartition("prompts", 1), OffsetSpec.latest());
            Map<Integer, Long> out = new TreeMap<>();
            admin.listOffsets(latest).all().get().forEach((tp, end) -> {
                OffsetAndMetadata c = committed.get(tp);
                out.put(tp.partition(), end.offset() - (c == null ? 0 : c.offset()));
            });
            return out;
        }
    }

    private static List<FlinkRest.Subtask> awaitRunning(FlinkRest rest, String job) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(240).toNanos();
        while (true) {
            List<FlinkRest.Subtask> s = rest.subtasks(job);
            if (!s.isEmpty() && s.stream().allMatch(x -> x.status().equals("RUNNING"))) return s;
            if (System.nanoTime() > deadline) fail("job " + job + " not running: " + s);
            Thread.sleep(200);
        }
    }

    /** The TaskManager of subtask {@code index} of the vertex whose name starts with {@code prefix}. */
    private static String on(List<FlinkRest.Subtask> subtasks, String prefix, int index) {
        return subtasks.stream().filter(s -> s.vertex().startsWith(prefix) && s.index() == index).map(FlinkRest.Subtask::taskManager)
                .findFirst().orElseThrow(() -> new AssertionError("no subtask " + index + " of " + prefix + " in " + subtasks.stream()
                        .map(FlinkRest.Subtask::vertex).collect(Collectors.toSet())));
    }

    private static List<String> with(List<String> a, String... more) {
        List<String> out = new ArrayList<>(a);
        out.addAll(List.of(more));
        return out;
    }
}
