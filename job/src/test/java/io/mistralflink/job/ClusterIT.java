package io.mistralflink.job;

import io.mistralflink.job.cluster.FlinkClient;
import io.mistralflink.job.cluster.FlinkRest;
import io.mistralflink.job.cluster.KafkaBrokerProcess;
import io.mistralflink.job.cluster.StandaloneCluster;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.schemas.GenerationRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Kafka job on a real multi-process cluster: a JobManager and two TaskManagers (3 slots each) and
 * a Kafka broker, each its own JVM on 127.0.0.1 ({@link StandaloneCluster}, {@link KafkaBrokerProcess},
 * what {@code cluster up --kafka} starts); the job submitted with Flink's own client ({@code flink run},
 * {@link FlinkClient}) from the packaged jar, its two stages on different TaskManagers, so frames cross
 * processes. Then, mid-generation, the TaskManager of the last stage is SIGKILLed: the job recovers on
 * the remaining slots and every request is answered exactly once (read_committed) with the text the
 * engine alone gives, i.e. an undisturbed run's. Then a stop with a savepoint while long generations
 * decode, and a resubmission from it with one stage and three lanes: every request once, texts equal.
 * Once on each state backend: {@code hashmap}, and {@code rocksdb}, which serializes every state access
 * (the stages' caches are held outside Flink state, so both work).
 */
@Timeout(900)
class ClusterIT {
    @TempDir static Path dir;
    static StandaloneCluster cluster;
    static KafkaBrokerProcess kafka;

    @BeforeAll static void start() {
        long t0 = System.nanoTime();
        Map<String, String> conf = new HashMap<>(StandaloneCluster.defaults(dir, 3));
        conf.put("restart-strategy.fixed-delay.attempts", "30");
        conf.put("restart-strategy.fixed-delay.delay", "1s");
        cluster = StandaloneCluster.start(dir, conf, 2, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(240));
        kafka = KafkaBrokerProcess.start(dir, cluster.classpath(), Map.of(), Duration.ofSeconds(120));
        System.out.printf("cluster IT: JobManager, 2 TaskManagers and a broker up in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    @AfterAll static void stop() {
        if (kafka != null) kafka.close();
        if (cluster != null) cluster.close();
    }

    @ParameterizedTest @ValueSource(strings = {"hashmap", "rocksdb"})
    void aKilledTaskManagerAndASavepointLoseAndRepeatNothing(String backend) throws Exception {
        Path model = KafkaJobSupport.model();
        Path jar = StandaloneCluster.jobCode().filter(p -> p.toString().endsWith(".jar"))
                .orElseThrow(() -> new AssertionError("run by failsafe after package: the job's jar is submitted"));
        String prompts = "prompts-" + backend, completionsTopic = "completions-" + backend, dead = "dead-letters-" + backend;
        EmbeddedKafka.createTopics(kafka.bootstrapServers(), Map.of(prompts, 2, completionsTopic, 2, dead, 2));
        List<GenerationRequest> first = KafkaJobSupport.requests(backend + "-kill-", 24, 8, 32, 41);
        List<GenerationRequest> second = new ArrayList<>();
        for (GenerationRequest r : KafkaJobSupport.requests(backend + "-sp-", 6, 2400, 3000, 43)) { r.setIgnoreEos(true); second.add(r); }
        List<GenerationRequest> all = new ArrayList<>(first);
        all.addAll(second);
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, all);
        List<String> common = List.of("--model", model.toString(), "--bootstrap-servers", kafka.bootstrapServers(),
                "--prompts-topic", prompts, "--completions-topic", completionsTopic, "--dead-letter-topic", dead,
                "--checkpoint-interval-ms", "200", "--transactional-id-prefix", "cluster-it-" + backend, "--threads", "1");
        List<String> flinkOptions = List.of("-Dstate.backend.type=" + backend);
        FlinkClient client = cluster.client();
        FlinkRest rest = cluster.rest();

        try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka.bootstrapServers(), completionsTopic);
             KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(kafka.bootstrapServers(), dead)) {
            String job = null, resumed = null;
            try {
                // stages on different TaskManagers, so that every step crosses processes twice. Flink spreads the
                // three slots over the two TaskManagers (load-balance mode SLOTS) but does not say which slot
                // goes to which slot sharing group: a job whose two stages share a TaskManager is cancelled (before
                // any prompt is produced: a cancelled job's requests in flight would be lost) and submitted again.
                Map<String, String> where = Map.of();
                String stage0 = null, stage1 = null;
                for (int attempt = 1; attempt <= 6; attempt++) {
                    job = client.submit(jar, flinkOptions, with(common, "--stages", "2", "--lanes", "2", "--sequences-per-lane", "4", "--max-batch-tokens", "32"));
                    awaitRunning(rest, job);
                    where = rest.placements(job).stream()
                            .collect(Collectors.toMap(FlinkRest.Placement::vertex, FlinkRest.Placement::taskManager, (a, b) -> a + "," + b));
                    stage0 = vertex(where, "stage 0");
                    stage1 = vertex(where, "stage 1");
                    System.out.println("cluster IT " + backend + ": submission " + attempt + " placed " + where);
                    if (!where.get(stage0).equals(where.get(stage1))) break;
                    client.cancel(job);
                    job = null;
                }
                assertNotNull(job, "the stages never landed on different TaskManagers: " + where);
                Produce.all(kafka.bootstrapServers(), prompts, first);

                // mid-generation: some answered, the rest in lanes or queued; the last stage's TaskManager dies
                int before = completions.atLeast(4, Duration.ofSeconds(240), Duration.ZERO).size();
                assertTrue(before < first.size(), "still generating when the TaskManager is killed");
                int victim = Integer.parseInt(where.get(stage1).substring("taskmanager-".length()));
                long t0 = System.nanoTime();
                cluster.killTaskManager(victim);
                completions.atLeast(first.size(), Duration.ofSeconds(300), Duration.ofSeconds(2));
                System.out.printf("cluster IT %s: %d answered before the SIGKILL of taskmanager-%d, the rest %.1f s after it%n",
                        backend, before, victim, (System.nanoTime() - t0) / 1e9);
                assertEquals("RUNNING", rest.awaitState(job, "RUNNING", Duration.ofSeconds(60)), "recovered on the remaining TaskManager");
                assertTrue(rest.restarts(job) >= 1, "the job failed over");
                KafkaJobSupport.assertMatchesEngine(subset(want, first), completions.completions(), "tiny-mistral");

                // a replacement TaskManager, then a stop with a savepoint while long generations decode (2,400-3,000
                // tokens: several times what `flink stop` takes here, its JVM start included, so none can finish first)
                cluster.startTaskManager();
                cluster.awaitTaskManagers(2, Duration.ofSeconds(240));
                Produce.all(kafka.bootstrapServers(), prompts, second);
                completions.until(r -> false, Duration.ZERO, Duration.ofSeconds(1)); // admitted and decoding
                long stopAt = System.nanoTime();
                String savepoint = client.stopWithSavepoint(job, cluster.savepointDir());
                job = null;
                int answered = completions.until(r -> false, Duration.ZERO, Duration.ofSeconds(1)).size() - first.size();
                System.out.printf("cluster IT %s: flink stop took %.1f s%n", backend, (System.nanoTime() - stopAt) / 1e9);
                assertTrue(answered < second.size(), "something left to resume after the savepoint");

                resumed = client.submit(jar, flinkOptions, with(common, "--savepoint", savepoint,
                        "--stages", "1", "--lanes", "3", "--sequences-per-lane", "3", "--max-batch-tokens", "64"));
                long resumedAt = System.nanoTime();
                completions.atLeast(all.size(), Duration.ofSeconds(300), Duration.ofSeconds(2));
                System.out.printf("cluster IT %s: resumed, the rest answered in %.1f s%n", backend, (System.nanoTime() - resumedAt) / 1e9);
                System.out.printf("cluster IT %s: %d of %d long generations answered before the savepoint, the rest after resuming with 1 stage%n",
                        backend, answered, second.size());
                assertEquals("RUNNING", rest.jobState(resumed));
            } finally {
                if (job != null) client.cancel(job);
                if (resumed != null) client.cancel(resumed);
            }
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
            assertTrue(deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300)).isEmpty(), "no dead letters");
        }
    }

    private static void awaitRunning(FlinkRest rest, String job) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(240).toNanos();
        while (true) {
            List<FlinkRest.Placement> p = rest.placements(job);
            if (!p.isEmpty() && p.stream().allMatch(x -> x.status().equals("RUNNING"))) return;
            if (System.nanoTime() > deadline) fail("job " + job + " not running: " + p);
            Thread.sleep(200);
        }
    }

    private static String vertex(Map<String, String> where, String prefix) {
        return where.keySet().stream().filter(v -> v.startsWith(prefix)).findFirst().orElseThrow(() -> new AssertionError("no vertex " + prefix + " in " + where));
    }

    private static Map<String, Sequence> subset(Map<String, Sequence> want, List<GenerationRequest> of) {
        Set<String> ids = of.stream().map(GenerationRequest::getRequestId).collect(Collectors.toSet());
        return want.entrySet().stream().filter(e -> ids.contains(e.getKey())).collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }

    private static List<String> with(List<String> a, String... more) {
        List<String> out = new ArrayList<>(a);
        out.addAll(List.of(more));
        return out;
    }
}
