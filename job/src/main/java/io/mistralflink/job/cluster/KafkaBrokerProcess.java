package io.mistralflink.job.cluster;

import io.mistralflink.job.kafka.EmbeddedKafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A single-node Kafka (KRaft, combined broker and controller) as its own JVM, from the Kafka jars on
 * this classpath: a node {@link EmbeddedKafka#prepare}d (configured and formatted), then {@code kafka.Kafka}, listening on
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
        // the node's configuration and formatted storage, as the embedded broker has them (a second start reopens them)
        Properties node = EmbeddedKafka.prepare(dir.resolve("kafka"), Map.of(), "127.0.0.1");
        Path config = dir.resolve("kafka").resolve(EmbeddedKafka.SERVER_PROPERTIES);
        String bootstrap = EmbeddedKafka.advertised(node);
        int port = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        try {
            Files.createDirectories(dir.resolve("conf"));
            Files.createDirectories(dir.resolve("log"));
            if (!Files.exists(dir.resolve("conf/log4j.properties"))) Files.writeString(dir.resolve("conf/log4j.properties"), StandaloneCluster.LOG4J);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the broker's log configuration under " + dir + ": " + e.getMessage(), e);
        }
        Process p = StandaloneCluster.launch(dir, "kafka", new ArrayList<>(List.of("-Xmx512m",
                "-Dlog4j2.configurationFile=" + dir.resolve("conf/log4j.properties").toUri())), classpath, "kafka.Kafka", List.of(config.toString()));
        KafkaBrokerProcess broker = new KafkaBrokerProcess(p, bootstrap);
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
