package io.mistralflink.job.cli;

import io.mistralflink.job.cluster.KafkaBrokerProcess;
import io.mistralflink.job.cluster.StandaloneCluster;
import io.mistralflink.job.kafka.KafkaTopics;
import org.apache.flink.client.cli.CliFrontend;
import org.apache.flink.configuration.GlobalConfiguration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code cluster up|down|flink}: a standalone Flink session cluster of child JVMs on this machine
 * ({@link StandaloneCluster}), optionally with a Kafka broker process, and Flink's own client against it.
 * See docs/cluster.md.
 */
@Command(name = "cluster", description = "a Flink session cluster of child JVMs on 127.0.0.1 (and a broker process), Flink's client on it (docs/cluster.md)",
        subcommands = {ClusterCommand.Up.class, ClusterCommand.Down.class, ClusterCommand.Flink.class})
public final class ClusterCommand extends CliCommand {
    @Override public Integer call() {
        throw usage("give up, down or flink");
    }

    static Path defaultDir() {
        return Path.of(System.getProperty("user.home"), ".mistral-flink", "cluster");
    }

    static Map<String, Integer> topics(int partitions) {
        Map<String, Integer> t = new LinkedHashMap<>();
        for (String name : KafkaTopics.defaults().all()) t.put(name, partitions);
        return t;
    }

    @Command(name = "up", description = "a JobManager and TaskManagers (and with --kafka a broker), each its own JVM on 127.0.0.1; prints the REST address and returns")
    static final class Up extends CliCommand {
        @Option(names = "--taskmanagers", paramLabel = "N", defaultValue = "2", description = "TaskManager processes")
        int taskmanagers;

        @Option(names = "--slots", paramLabel = "N", defaultValue = "2", description = "slots of each TaskManager")
        int slots;

        @Option(names = "--dir", paramLabel = "D", description = "the cluster's configuration, logs and state (default: ~/.mistral-flink/cluster)")
        Path dir;

        @Option(names = "--kafka", description = "a Kafka broker process too")
        boolean kafka;

        @Option(names = "--state-backend", paramLabel = "hashmap|rocksdb", defaultValue = "hashmap", description = "the TaskManagers' state backend")
        String stateBackend;

        @Override public Integer call() throws IOException {
            if (taskmanagers < 1 || slots < 1) throw usage("--taskmanagers and --slots must be >= 1");
            if (!stateBackend.equals("hashmap") && !stateBackend.equals("rocksdb")) throw usage("--state-backend is hashmap or rocksdb, got '" + stateBackend + "'");
            Path home = (dir != null ? dir : defaultDir()).toAbsolutePath();
            if (Files.isRegularFile(home.resolve("pids")) && Files.readAllLines(home.resolve("pids")).stream()
                    .anyMatch(l -> l.split("\\s+").length == 2 && ProcessHandle.of(Long.parseLong(l.split("\\s+")[1])).map(ProcessHandle::isAlive).orElse(false)))
                throw new IllegalStateException("a cluster is already running under " + home + " (cluster down --dir " + home + " first)");
            long t0 = System.nanoTime();
            Map<String, String> conf = new LinkedHashMap<>(StandaloneCluster.defaults(home, slots));
            conf.put("state.backend.type", stateBackend);
            StandaloneCluster cluster = StandaloneCluster.start(home, conf, taskmanagers, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(120));
            String broker = null;
            if (kafka) {
                try {
                    broker = KafkaBrokerProcess.start(home, cluster.classpath(), topics(4), Duration.ofSeconds(60)).bootstrapServers();
                } catch (RuntimeException e) {
                    cluster.close();
                    throw e;
                }
            }
            out.printf("flink: %s (%d TaskManager(s) x %d slots, %s state; up in %.1f s; logs in %s)%n", cluster.restAddress(), taskmanagers, slots,
                    stateBackend, (System.nanoTime() - t0) / 1e9, home.resolve("log"));
            if (broker != null) out.println("kafka: " + broker + " (topics prompts, completions, dead-letters)");
            out.println("submit: bin/mistral-flink cluster flink" + (dir != null ? " --dir " + home : "") + " run -d -c io.mistralflink.job.Cli "
                    + StandaloneCluster.jobCode().map(Path::toString).orElse("job.jar") + " run --cluster --model DIR --bootstrap-servers "
                    + (broker == null ? "H:P" : broker));
            out.println("stop:   bin/mistral-flink cluster down" + (dir != null ? " --dir " + home : ""));
            return 0;
        }
    }

    @Command(name = "down", description = "stops the processes of the cluster under --dir")
    static final class Down extends CliCommand {
        @Option(names = "--dir", paramLabel = "D", description = "as given to cluster up (default: ~/.mistral-flink/cluster)")
        Path dir;

        @Override public Integer call() throws IOException {
            Path home = dir != null ? dir : defaultDir();
            out.println("stopped " + StandaloneCluster.down(home) + " process(es) of the cluster under " + home.toAbsolutePath());
            return 0;
        }
    }

    /** Flink's CliFrontend in this JVM, configured from the cluster's {@code conf} directory; every argument after --dir is Flink's. */
    @Command(name = "flink", description = "Flink's client on that cluster, e.g. cluster flink run -d -c io.mistralflink.job.Cli "
            + "job/target/job-0.1.0-SNAPSHOT.jar run --cluster ...")
    static final class Flink extends CliCommand {
        @Option(names = "--dir", paramLabel = "D", description = "as given to cluster up (default: ~/.mistral-flink/cluster); only before Flink's arguments")
        Path dir;

        @Parameters(paramLabel = "ARGS", description = "Flink's client's arguments")
        List<String> args = new ArrayList<>();

        @Override public Integer call() throws Exception {
            Path conf = (dir != null ? dir : defaultDir()).resolve("conf");
            if (!Files.isRegularFile(conf.resolve("config.yaml"))) throw new IllegalStateException("no cluster configuration in " + conf + " (cluster up first)");
            var c = GlobalConfiguration.loadConfiguration(conf.toString());
            return new CliFrontend(c, CliFrontend.loadCustomCommandLines(c, conf.toString())).parseAndRun(args.toArray(String[]::new));
        }
    }
}
