package io.mistralflink.job;

import io.mistralflink.job.cluster.FlinkClient;
import io.mistralflink.job.cluster.KafkaBrokerProcess;
import io.mistralflink.job.cluster.StandaloneCluster;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.client.cli.CliFrontend;
import org.apache.flink.configuration.GlobalConfiguration;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code cluster up|down|flink} and {@code demo --cluster}: a standalone Flink session cluster of
 * child JVMs on this machine ({@link StandaloneCluster}), optionally with a Kafka broker process, and
 * Flink's own client against it. See docs/cluster.md.
 */
final class ClusterCommand {
    static final String USAGE = """
              cluster up [--taskmanagers 2] [--slots 2] [--dir D] [--kafka] [--state-backend hashmap|rocksdb]
                       a JobManager and TaskManagers (and with --kafka a broker), each its own JVM on 127.0.0.1;
                       prints the REST address and returns
              cluster down [--dir D]   stops them
              cluster flink [--dir D] ARGS...   Flink's client on that cluster, e.g.
                       cluster flink run -d -c io.mistralflink.job.Cli job/target/job-0.1.0-SNAPSHOT.jar run --cluster ...
              demo --cluster [--count 8] [--model DIR] [--max-new-tokens 24]: the demo on such a cluster (two stages)""";

    private ClusterCommand() {}

    static Path defaultDir() {
        return Path.of(System.getProperty("user.home"), ".mistral-flink", "cluster");
    }

    static int run(String[] argv, PrintStream out) throws Exception {
        String sub = argv.length > 1 ? argv[1] : "";
        switch (sub) {
            case "up" -> {
                Args a = new Args("cluster up", argv, 2, List.of("taskmanagers", "slots", "dir", "state-backend"), List.of("kafka"));
                return up(a, out);
            }
            case "down" -> {
                Args a = new Args("cluster down", argv, 2, List.of("dir"), List.of());
                Path dir = Path.of(a.get("dir", defaultDir().toString()));
                out.println("stopped " + StandaloneCluster.down(dir) + " process(es) of the cluster under " + dir.toAbsolutePath());
                return 0;
            }
            case "flink" -> {
                Path dir = defaultDir();
                int from = 2;
                if (argv.length > 3 && argv[2].equals("--dir")) { dir = Path.of(argv[3]); from = 4; }
                return flink(dir.resolve("conf"), Arrays.copyOfRange(argv, from, argv.length));
            }
            default -> throw new Args.UsageException("cluster: give up, down or flink\n" + USAGE);
        }
    }

    private static int up(Args a, PrintStream out) throws IOException {
        int tms = a.integer("taskmanagers", 2), slots = a.integer("slots", 2);
        if (tms < 1 || slots < 1) throw new Args.UsageException("cluster up: --taskmanagers and --slots must be >= 1");
        String backend = a.get("state-backend", "hashmap");
        if (!backend.equals("hashmap") && !backend.equals("rocksdb")) throw new Args.UsageException("cluster up: --state-backend is hashmap or rocksdb, got '" + backend + "'");
        Path dir = Path.of(a.get("dir", defaultDir().toString())).toAbsolutePath();
        if (Files.isRegularFile(dir.resolve("pids")) && Files.readAllLines(dir.resolve("pids")).stream()
                .anyMatch(l -> l.split("\\s+").length == 2 && ProcessHandle.of(Long.parseLong(l.split("\\s+")[1])).map(ProcessHandle::isAlive).orElse(false)))
            throw new IllegalStateException("a cluster is already running under " + dir + " (cluster down --dir " + dir + " first)");
        long t0 = System.nanoTime();
        Map<String, String> conf = new LinkedHashMap<>(StandaloneCluster.defaults(dir, slots));
        conf.put("state.backend.type", backend);
        StandaloneCluster cluster = StandaloneCluster.start(dir, conf, tms, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(120));
        String kafka = null;
        if (a.flag("kafka")) {
            try {
                kafka = KafkaBrokerProcess.start(dir, cluster.classpath(), topics(4), Duration.ofSeconds(60)).bootstrapServers();
            } catch (RuntimeException e) {
                cluster.close();
                throw e;
            }
        }
        out.printf("flink: %s (%d TaskManager(s) x %d slots, %s state; up in %.1f s; logs in %s)%n", cluster.restAddress(), tms, slots, backend,
                (System.nanoTime() - t0) / 1e9, dir.resolve("log"));
        if (kafka != null) out.println("kafka: " + kafka + " (topics prompts, completions, dead-letters)");
        out.println("submit: bin/mistral-flink cluster flink" + (a.has("dir") ? " --dir " + dir : "") + " run -d -c io.mistralflink.job.Cli "
                + StandaloneCluster.jobCode().map(Path::toString).orElse("job.jar") + " run --cluster --model DIR --bootstrap-servers "
                + (kafka == null ? "H:P" : kafka));
        out.println("stop:   bin/mistral-flink cluster down" + (a.has("dir") ? " --dir " + dir : ""));
        return 0;
    }

    static Map<String, Integer> topics(int partitions) {
        Map<String, Integer> t = new LinkedHashMap<>();
        for (String name : KafkaTopics.defaults().all()) t.put(name, partitions);
        return t;
    }

    /** Flink's CliFrontend in this JVM, configured from the cluster's {@code conf} directory. */
    private static int flink(Path confDir, String[] args) throws Exception {
        if (!Files.isRegularFile(confDir.resolve("config.yaml"))) throw new IllegalStateException("no cluster configuration in " + confDir + " (cluster up first)");
        var conf = GlobalConfiguration.loadConfiguration(confDir.toString());
        CliFrontend cli = new CliFrontend(conf, CliFrontend.loadCustomCommandLines(conf, confDir.toString()));
        return cli.parseAndRun(args);
    }

    /**
     * The demo on a real cluster: a JobManager, two TaskManagers and a Kafka broker, each its own
     * process; the job submitted with Flink's client (two stages, on different slots); the
     * completions printed as JSON lines as they become visible (read_committed); then everything
     * stopped.
     */
    static int demo(Args a, PrintStream out) throws Exception {
        int count = a.integer("count", 8);
        if (count < 1) throw new Args.UsageException("demo: --count must be >= 1");
        Path model = (a.has("model") ? Path.of(a.required("model")) : KafkaCommands.home().resolve("examples/models/tiny-mistral")).toAbsolutePath();
        if (!Files.isDirectory(model)) throw new Args.UsageException("demo: model directory " + model + " not found (give --model DIR)");
        Path jar = StandaloneCluster.jobCode().filter(p -> p.toString().endsWith(".jar"))
                .orElseThrow(() -> new IllegalStateException("demo --cluster: the job's classes are not in a jar (run it through bin/mistral-flink)"));
        List<GenerationRequest> requests = KafkaCommands.brownRequests(KafkaCommands.home().resolve("examples/datasets/brown.jsonl.xz"),
                count, a.integer("max-new-tokens", 24));
        Path dir = Files.createTempDirectory("mistral-flink-cluster-");
        long t0 = System.nanoTime();
        try (StandaloneCluster cluster = StandaloneCluster.start(dir, StandaloneCluster.defaults(dir, 2), 2, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(120));
             KafkaBrokerProcess kafka = KafkaBrokerProcess.start(dir, cluster.classpath(), topics(2), Duration.ofSeconds(60))) {
            System.err.printf("cluster: JobManager %s, 2 TaskManagers, Kafka %s, each its own process (up in %.1f s; logs in %s)%n",
                    cluster.restAddress(), kafka.bootstrapServers(), (System.nanoTime() - t0) / 1e9, dir.resolve("log"));
            KafkaCommands.produceAll(kafka.bootstrapServers(), KafkaTopics.DEFAULT_PROMPTS, requests);
            FlinkClient client = cluster.client();
            String job = client.submit(jar, List.of(), List.of("--model", model.toString(), "--bootstrap-servers", kafka.bootstrapServers(),
                    "--stages", "2", "--lanes", "2", "--sequences-per-lane", "8", "--checkpoint-interval-ms", "500",
                    "--transactional-id-prefix", "mistral-flink-demo"));
            System.err.println("job " + job + " submitted with flink run");
            try {
                int seen = KafkaCommands.printCommitted(kafka.bootstrapServers(), List.of(KafkaTopics.DEFAULT_COMPLETIONS, KafkaTopics.DEFAULT_DEAD_LETTERS),
                        count, Duration.ofSeconds(180), out);
                if (seen < count) throw new IllegalStateException("demo: " + seen + " of " + count + " answers within 180 s (logs in " + dir.resolve("log") + ")");
            } finally {
                client.cancel(job);
            }
        }
        deleteTree(dir);
        return 0;
    }

    private static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory: best effort
        }
    }
}
