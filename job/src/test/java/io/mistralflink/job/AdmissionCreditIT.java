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
 * lanes (2 x 4) and a backlog of 20 times its waiting room (4 x L x S = 32) queues behind them, beyond
 * the 64 x L x S at which a scheduler holds its input. The scheduler's "room full" reaches both sources
 * through the JobManager ({@code RoomCoordinator} -> {@code GatedEnumerator}): both stop reading, so
 * the backlog stays in Kafka in both partitions (the group's committed offsets), checkpoints keep
 * completing (Flink's REST statistics), the stop with a savepoint takes seconds and does not wait for
 * the generations, and the job resumed from it answers every request exactly once, as the engine alone.
 * With a JVM-local gate the remote source would read its whole partition into scheduler 1's state.
 */
@Timeout(600)
class AdmissionCreditIT {
    static final int LANES = 2, PER_LANE = 4;
    static final int WAITING_ROOM = 4 * LANES * PER_LANE;
    static final int BACKLOG = 20 * WAITING_ROOM;
    /** Checkpoints every 200 ms: at least this many complete in the 3 s window (about 15 on a quiet machine). */
    static final int CHECKPOINTS_IN_WINDOW = 3;
    /**
     * The savepoint's own time (trigger to completion, from Flink's checkpoint statistics): about 1 s
     * here; a stop that waits for the generations takes tens of seconds. A 3x margin over this machine's
     * slowest for CI's (up to 1.3x slower).
     */
    static final long SAVEPOINT_BOUND_MS = 15_000;
    static final String GROUP = "credit-it";

    @Test void aFullRoomOnOneTaskManagerStopsTheSourcesOnBoth(@TempDir Path dir) throws Exception {
        Path model = KafkaJobSupport.model();
        Path jar = StandaloneCluster.jobCode().filter(p -> p.toString().endsWith(".jar"))
                .orElseThrow(() -> new AssertionError("run by failsafe after package: the job's jar is submitted"));
        List<GenerationRequest> warm = KafkaJobSupport.requests("warm-", 4, 8, 16, 23);
        List<GenerationRequest> load = new ArrayList<>();
        for (GenerationRequest r : toScheduler(1, KafkaJobSupport.requests("long-", 8, 350, 450, 29))) { r.setIgnoreEos(true); load.add(r); }
        List<GenerationRequest> backlog = toScheduler(1, KafkaJobSupport.requests("queued-", BACKLOG, 2, 6, 31));
        load.addAll(backlog);
        List<GenerationRequest> all = new ArrayList<>(warm);
        all.addAll(load);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, all);

        long t0 = System.nanoTime();
        try (StandaloneCluster cluster = StandaloneCluster.start(dir, StandaloneCluster.defaults(dir, 1), 2, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(240));
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
                    Produce.all(kafka.bootstrapServers(), "prompts", load.subList(0, 8));
                    Thread.sleep(500); // the long ones admitted first, filling scheduler 1's lanes
                    Produce.all(kafka.bootstrapServers(), "prompts", backlog);
                    Thread.sleep(1000); // decoding, the backlog waiting
                    String checkpoints = "/jobs/" + job + "/checkpoints";
                    long c0 = rest.get(checkpoints).path("counts").path("completed").asLong();
                    Thread.sleep(3000);
                    long inWindow = rest.get(checkpoints).path("counts").path("completed").asLong() - c0;
                    Map<Integer, Long> unread = unread(kafka.bootstrapServers());
                    int answered = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(200)).size();

                    long s0 = System.nanoTime();
                    String savepoint = client.stopWithSavepoint(job, cluster.savepointDir());
                    long stopMs = (System.nanoTime() - s0) / 1_000_000;
                    long savepointMs = rest.get(checkpoints).path("latest").path("savepoint").path("end_to_end_duration").asLong(-1);
                    job = null;
                    int beforeStop = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(1500)).size();
                    System.out.println("credit IT: " + inWindow + " checkpoints completed in 3 s with " + (all.size() - answered)
                            + " requests unanswered; prompts left in Kafka per partition " + unread + " (backlog " + BACKLOG
                            + "); the savepoint took " + savepointMs + " ms, flink stop " + stopMs + " ms; " + beforeStop + " of " + all.size() + " answered before it");
                    assertTrue(inWindow >= CHECKPOINTS_IN_WINDOW, "checkpoints completed in 3 s under the backlog: " + inWindow);
                    for (var e : unread.entrySet())
                        assertTrue(e.getValue() >= BACKLOG / 8, "partition " + e.getKey() + " was read while scheduler 1's room was full: " + unread);
                    assertTrue(savepointMs >= 0 && savepointMs < SAVEPOINT_BOUND_MS, "the savepoint took " + savepointMs + " ms");
                    assertTrue(beforeStop < all.size() - 8, "the stop waited for the generations: " + beforeStop + " answered");

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
