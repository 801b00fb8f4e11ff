package io.mistralflink.job.kafka;

import kafka.server.BrokerServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.metadata.bootstrap.BootstrapMetadata;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A real single-node Kafka (KRaft, combined broker + controller) in this JVM, on loopback, built on
 * Kafka's own {@link KafkaClusterTestKit}. Ready in a few seconds; used by the default local run
 * and by the tests.
 *
 * <pre>{@code
 * try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start()) {
 *     String bootstrap = kafka.bootstrapServers();
 * }
 * }</pre>
 *
 * <p>Restart: {@link #stopBroker()} / {@link #startBroker()} stop and start the broker half of the
 * node (the KRaft controller keeps running); data and the listening port are kept, so clients
 * reconnect to the same {@link #bootstrapServers()}. The metadata quorum is not restarted.
 *
 * <p>Data directory: the test kit formats a fresh directory at each start, so a directory can be
 * used by one {@code EmbeddedKafka} only; it cannot reopen the data of a previous process
 * ({@link #start} refuses a non-empty directory). A directory given by the caller is kept on
 * {@link #close()}; a temporary one is deleted.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    private final KafkaClusterTestKit cluster;
    private final Path dataDir;
    private final int brokerId;
    private final String bootstrapServers;
    private volatile boolean closed;

    private EmbeddedKafka(KafkaClusterTestKit cluster, Path dataDir) {
        this.cluster = cluster;
        this.dataDir = dataDir;
        this.brokerId = cluster.brokers().keySet().iterator().next();
        this.bootstrapServers = cluster.bootstrapServers();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A broker on a temporary directory with the default topics, one partition each. */
    public static EmbeddedKafka start() {
        return builder().start();
    }

    /** "localhost:PORT"; stable across {@link #stopBroker()}/{@link #startBroker()}. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** Creates a topic (replication factor 1); an existing topic is left as it is. */
    public void createTopic(String name, int partitions) {
        createTopics(Map.of(name, partitions));
    }

    public void createTopics(Map<String, Integer> partitionsByTopic) {
        createTopics(bootstrapServers, partitionsByTopic);
    }

    /**
     * Creates topics on any broker (replication factor 1; existing ones are left as they are) and waits
     * until every partition has a leader.
     */
    public static void createTopics(String bootstrapServers, Map<String, Integer> partitionsByTopic) {
        try (Admin admin = admin(bootstrapServers)) {
            List<NewTopic> topics = partitionsByTopic.entrySet().stream()
                    .map(e -> new NewTopic(e.getKey(), e.getValue(), (short) 1))
                    .toList();
            for (var entry : admin.createTopics(topics).values().entrySet()) {
                try {
                    entry.getValue().get();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException("cannot create topic " + entry.getKey() + ": " + e.getCause(), e.getCause());
                    }
                }
            }
            // wait until every partition has a leader, so that the first produce does not race the metadata
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (true) {
                java.util.Map<String, org.apache.kafka.clients.admin.TopicDescription> described;
                try {
                    described = admin.describeTopics(partitionsByTopic.keySet()).allTopicNames().get();
                } catch (ExecutionException e) {
                    // just created: the broker may not know the topic yet (a retriable error); look again
                    if (!(e.getCause() instanceof org.apache.kafka.common.errors.RetriableException) || System.nanoTime() > deadline) throw e;
                    Thread.sleep(20);
                    continue;
                }
                boolean ready = described.values().stream()
                        .allMatch(d -> d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
                if (ready) break;
                if (System.nanoTime() > deadline) throw new IllegalStateException("topics have no leader: " + described);
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create topics " + partitionsByTopic + ": " + e.getCause(), e.getCause());
        }
    }

    /** An admin client on this broker; the caller closes it. */
    public Admin admin() {
        return admin(bootstrapServers);
    }

    static Admin admin(String bootstrapServers) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return Admin.create(p);
    }

    /** Stops the broker (controller stays up); the port stays reserved, data stays on disk. */
    public void stopBroker() {
        long t0 = System.nanoTime();
        broker().shutdown();
        broker().awaitShutdown();
        LOG.info("Embedded Kafka broker {} stopped in {} ms", brokerId, (System.nanoTime() - t0) / 1_000_000);
    }

    /** Starts a broker stopped by {@link #stopBroker()} on the same port and data. */
    public void startBroker() {
        long t0 = System.nanoTime();
        broker().startup();
        try {
            cluster.waitForReadyBrokers();
            LOG.info("Embedded Kafka broker {} restarted at {} in {} ms", brokerId, bootstrapServers,
                    (System.nanoTime() - t0) / 1_000_000);
        } catch (ExecutionException e) {
            throw new IllegalStateException("broker did not become ready: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the broker", e);
        }
    }

    public void restartBroker() {
        stopBroker();
        startBroker();
    }

    private BrokerServer broker() {
        return cluster.brokers().get(brokerId);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        long t0 = System.nanoTime();
        try {
            cluster.close();
            LOG.info("Embedded Kafka closed in {} ms", (System.nanoTime() - t0) / 1_000_000);
        } catch (Exception e) {
            throw new IllegalStateException("embedded Kafka did not shut down cleanly: " + e, e);
        }
    }

    /** Broker settings of a single-node cluster for this job (the embedded broker and {@code cluster.KafkaBrokerProcess}). */
    public static Map<String, String> brokerDefaults(int partitions) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("auto.create.topics.enable", "false");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("min.insync.replicas", "1");
        p.put("num.partitions", String.valueOf(partitions));
        // a restarted broker re-registers once its old session expired: keep that short (default 9 s)
        p.put("broker.session.timeout.ms", "3000");
        p.put("broker.heartbeat.interval.ms", "500");
        p.put("log.flush.interval.messages", String.valueOf(Long.MAX_VALUE));
        // Flink's KafkaSink uses transactions that may stay open for a checkpoint interval
        p.put("transaction.max.timeout.ms", String.valueOf(Duration.ofMinutes(15).toMillis()));
        return p;
    }

    public static final class Builder {
        private Path dataDir;
        private int partitions = 1;
        private KafkaTopics topics = KafkaTopics.defaults();
        private final Map<String, Integer> extraTopics = new LinkedHashMap<>();
        private final Map<String, Object> brokerProperties = new HashMap<>();

        private Builder() {}

        /** Data directory (must be empty or absent); default: a temporary directory deleted on close. */
        public Builder dataDir(Path dir) {
            this.dataDir = dir;
            return this;
        }

        /** Partitions of the prompts, completions and dead-letters topics (default 1). */
        public Builder partitions(int partitions) {
            if (partitions < 1) throw new IllegalArgumentException("partitions must be >= 1");
            this.partitions = partitions;
            return this;
        }

        public Builder topics(KafkaTopics topics) {
            this.topics = Objects.requireNonNull(topics);
            return this;
        }

        /** One more topic to create at start. */
        public Builder topic(String name, int partitions) {
            extraTopics.put(name, partitions);
            return this;
        }

        /** A broker configuration property (overrides this class's defaults). */
        public Builder brokerProperty(String key, Object value) {
            brokerProperties.put(key, value);
            return this;
        }

        public EmbeddedKafka start() {
            long t0 = System.nanoTime();
            boolean temp = dataDir == null;
            Path dir;
            try {
                if (temp) {
                    dir = Files.createTempDirectory("mistral-flink-kafka-");
                } else {
                    dir = dataDir.toAbsolutePath();
                    Files.createDirectories(dir);
                    try (Stream<Path> s = Files.list(dir)) {
                        if (s.findAny().isPresent()) {
                            throw new IllegalStateException("Kafka data directory " + dir + " is not empty: the embedded broker "
                                    + "formats a fresh directory and cannot reopen an earlier one; delete it or choose another");
                        }
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot prepare the Kafka data directory", e);
            }

            // production metadata version and features (the test kit defaults to unstable "testing" levels)
            MetadataVersion mv = MetadataVersion.latestProduction();
            Map<String, Short> features = Feature.PRODUCTION_FEATURES.stream().collect(Collectors.toMap(
                    Feature::featureName, f -> f.defaultLevel(mv), (a, b) -> a, TreeMap::new));
            TestKitNodes nodes = new TestKitNodes.Builder(BootstrapMetadata.fromVersions(mv, features, "mistral-flink"))
                    .setCombined(true)
                    .setNumBrokerNodes(1)
                    .setNumControllerNodes(1)
                    .setBaseDirectory(dir)
                    .build();

            Map<String, Object> props = new HashMap<>(brokerDefaults(partitions));
            props.put("unstable.api.versions.enable", "false");
            props.put("unstable.feature.versions.enable", "false");
            props.putAll(brokerProperties);

            KafkaClusterTestKit.Builder kit = new KafkaClusterTestKit.Builder(nodes).setDeleteOnClose(temp);
            props.forEach(kit::setConfigProp);
            KafkaClusterTestKit cluster = null;
            try {
                cluster = kit.build();
                cluster.format();
                cluster.startup();
                cluster.waitForReadyBrokers();
                EmbeddedKafka kafka = new EmbeddedKafka(cluster, dir);
                Map<String, Integer> toCreate = new LinkedHashMap<>();
                for (String t : topics.all()) toCreate.put(t, partitions);
                toCreate.putAll(extraTopics);
                kafka.createTopics(toCreate);
                LOG.info("Embedded Kafka ready at {} (data {}, topics {}) in {} ms", kafka.bootstrapServers, dir,
                        toCreate, (System.nanoTime() - t0) / 1_000_000);
                return kafka;
            } catch (Exception e) {
                if (cluster != null) {
                    try {
                        cluster.close();
                    } catch (Exception suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                if (e instanceof InterruptedException) Thread.currentThread().interrupt();
                throw new IllegalStateException("embedded Kafka did not start: " + e, e);
            }
        }
    }

    /** For diagnostics: the broker's topic list. */
    public List<String> listTopics() {
        try (Admin admin = admin()) {
            return new ArrayList<>(admin.listTopics().names().get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }
}
