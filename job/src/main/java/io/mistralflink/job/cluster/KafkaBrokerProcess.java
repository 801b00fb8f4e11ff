package io.mistralflink.job.cluster;

import io.mistralflink.job.kafka.EmbeddedKafka;
import org.apache.kafka.common.Uuid;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A single-node Kafka (KRaft, combined broker and controller) as its own JVM, from the Kafka jars on
 * this classpath: {@code kafka.tools.StorageTool format}, then {@code kafka.Kafka}, listening on
 * 127.0.0.1 only; data, configuration and log under a directory (listed in its {@code pids}, so
 * {@link StandaloneCluster#down} stops it with the cluster).
 */
public final class KafkaBrokerProcess implements AutoCloseable {
    private final Process process;
    private final String bootstrapServers;

    private KafkaBrokerProcess(Process process, String bootstrapServers) {
        this.process = process;
        this.bootstrapServers = bootstrapServers;
    }

    /** Formats {@code dir/kafka}, starts the broker, waits until it serves, creates {@code topics}. */
    public static KafkaBrokerProcess start(Path dir, List<Path> classpath, Map<String, Integer> topics, Duration timeout) {
        dir = dir.toAbsolutePath().normalize();
        int port = StandaloneCluster.freePort(), controller = StandaloneCluster.freePort();
        Map<String, String> props = new LinkedHashMap<>(EmbeddedKafka.brokerDefaults(1));
        props.put("process.roles", "broker,controller");
        props.put("node.id", "1");
        props.put("controller.quorum.voters", "1@127.0.0.1:" + controller);
        props.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controller);
        props.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
        props.put("controller.listener.names", "CONTROLLER");
        props.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        props.put("log.dirs", dir.resolve("kafka/data").toString());
        Path config = dir.resolve("kafka/server.properties");
        try {
            Files.createDirectories(dir.resolve("kafka/data"));
            Files.createDirectories(dir.resolve("conf"));
            Files.createDirectories(dir.resolve("log"));
            StringBuilder sb = new StringBuilder();
            props.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
            Files.writeString(config, sb);
            if (!Files.exists(dir.resolve("conf/log4j.properties"))) Files.writeString(dir.resolve("conf/log4j.properties"), StandaloneCluster.LOG4J);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + config + ": " + e.getMessage(), e);
        }
        List<String> jvm = List.of("-Xmx512m", "-Dlog.file=" + dir.resolve("log/kafka.log"),
                "-Dlog4j.configurationFile=" + dir.resolve("conf/log4j.properties").toUri(), "-Dlog4j2.configurationFile=" + dir.resolve("conf/log4j.properties").toUri());
        Process format = new ChildJvm(jvm, classpath, "kafka.tools.StorageTool",
                List.of("format", "-t", Uuid.randomUuid().toString(), "-c", config.toString()), Map.of()).start(dir.resolve("log/kafka-format.out"));
        try {
            if (!format.waitFor(60, TimeUnit.SECONDS) || format.exitValue() != 0)
                throw new IllegalStateException("formatting Kafka's storage failed: see " + dir.resolve("log/kafka-format.out"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        Process p = StandaloneCluster.launch(dir, "kafka", new ArrayList<>(List.of("-Xmx512m",
                "-Dlog4j2.configurationFile=" + dir.resolve("conf/log4j.properties").toUri())), classpath, "kafka.Kafka", List.of(config.toString()));
        KafkaBrokerProcess broker = new KafkaBrokerProcess(p, "127.0.0.1:" + port);
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!listening(port)) {
                if (!p.isAlive()) throw new IllegalStateException("the Kafka broker exited (" + p.exitValue() + "): see " + dir.resolve("log/kafka.out"));
                if (System.nanoTime() > deadline) throw new IllegalStateException("the Kafka broker did not listen within " + timeout.toSeconds() + " s: see " + dir.resolve("log/kafka.out"));
                Thread.sleep(200);
            }
            EmbeddedKafka.createTopics(broker.bootstrapServers, topics);
            return broker;
        } catch (InterruptedException e) {
            broker.close();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (RuntimeException e) {
            broker.close();
            throw e;
        }
    }

    private static boolean listening(int port) {
        try (java.net.Socket s = new java.net.Socket()) {
            s.connect(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** "127.0.0.1:PORT". */
    public String bootstrapServers() { return bootstrapServers; }

    public long pid() { return process.pid(); }

    @Override public void close() {
        StandaloneCluster.stop(List.of(process.toHandle()));
    }
}
