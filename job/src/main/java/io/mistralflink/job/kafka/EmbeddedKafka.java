package io.mistralflink.job.kafka;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;

/**
 * A real single-node Kafka (KRaft, combined broker + controller) in this JVM: the server that
 * {@code kafka.Kafka} runs ({@link KafkaRaftServer}), configured by a {@code server.properties} in
 * its data directory. Ready in a few seconds; used by the default local run and by the tests.
 *
 * <pre>{@code
 * try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start()) {
 *     String bootstrap = kafka.bootstrapServers();
 * }
 * }</pre>
 *
 * <p>Durable: the first start in a directory picks two free ports (client and controller) on the
 * bind address (loopback unless told otherwise), writes them into {@code server.properties} and
 * formats the storage; a later start in the same directory, by this process or another one after
 * a kill -9, reopens the same data on the same ports. {@link #prepare} does the first half only, so
 * that {@code kafka.Kafka DIR/server.properties} can run the same node in a process of its own.
 *
 * <p>Restart: {@link #stopBroker()} / {@link #startBroker()} stop and start the node (controller
 * included) on the same data and ports, so clients reconnect to the same {@link #bootstrapServers()}.
 *
 * <p>A directory given by the caller is kept on {@link #close()}; a temporary one is deleted.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);
    /** The file that holds the node's configuration (its ports included) in its data directory. */
    public static final String SERVER_PROPERTIES = "server.properties";

    private final Path dataDir;
    private final boolean temporary;
    private final Properties config;
    private final String bootstrapServers;
    private KafkaRaftServer server;
    private volatile boolean closed;

    private EmbeddedKafka(Path dataDir, boolean temporary, Properties config) {
        this.dataDir = dataDir;
        this.temporary = temporary;
        this.config = config;
        this.bootstrapServers = advertised(config);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A broker on a temporary directory with the default topics, one partition each. */
    public static EmbeddedKafka start() {
        return builder().start();
    }

    /**
     * Writes {@code server.properties} into {@code dir} and formats the storage there, unless it
     * already holds a node; returns the node's configuration ({@code kafka.Kafka} can run it).
     */
    public static Properties prepare(Path dir, Map<String, Object> overrides, String bindAddress) {
        return prepare(dir, overrides, bindAddress, Map.of());
    }

    /** As above, with a SASL/PLAIN listener for these users (name -> password) when {@code saslUsers} is not empty. */
    public static Properties prepare(Path dir, Map<String, Object> overrides, String bindAddress, Map<String, String> saslUsers) {
        Path file = dir.resolve(SERVER_PROPERTIES);
        try {
            Files.createDirectories(dir);
            if (Files.isRegularFile(file)) {
                Properties p = new Properties();
                try (Reader r = Files.newBufferedReader(file)) { p.load(r); }
                return p;
            }
            Properties p = defaults(dir, bindAddress, freePort(bindAddress), freePort(bindAddress));
            if (!saslUsers.isEmpty()) saslPlain(p, bindAddress, freePort(bindAddress), saslUsers);
            overrides.forEach((k, v) -> p.setProperty(k, String.valueOf(v)));
            String logs = p.getProperty("log.dirs");
            EmbeddedKafka.deleteTree(Path.of(logs)); // a format torn by a kill before server.properties was written
            new Formatter()
                    .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                    .setNodeId(Integer.parseInt(p.getProperty("node.id")))
                    .setClusterId(Uuid.randomUuid().toString())
                    .setDirectories(List.of(logs))
                    .setMetadataLogDirectory(logs)
                    .setControllerListenerName("CONTROLLER")
                    .setReleaseVersion(MetadataVersion.latestProduction())
                    .run();
            // written last: a directory with this file holds a formatted node
            Path tmp = dir.resolve(SERVER_PROPERTIES + ".tmp");
            try (Writer w = Files.newBufferedWriter(tmp)) { p.store(w, "mistral-flink embedded Kafka node"); }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the Kafka data directory " + dir + ": " + e.getMessage(), e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot format the Kafka data directory " + dir + ": " + e, e);
        }
    }

    private static Properties defaults(Path dir, String host, int port, int controllerPort) throws IOException {
        // listening on every interface (on purpose): clients are told this machine's name
        String advertised = InetAddress.getByName(host).isAnyLocalAddress() ? InetAddress.getLocalHost().getCanonicalHostName() : host;
        Properties props = new Properties();
        props.setProperty("process.roles", "broker,controller");
        props.setProperty("node.id", "1");
        props.setProperty("listeners", "PLAINTEXT://" + host + ":" + port + ",CONTROLLER://" + host + ":" + controllerPort);
        props.setProperty("advertised.listeners", "PLAINTEXT://" + advertised + ":" + port);
        props.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT");
        props.setProperty("controller.listener.names", "CONTROLLER");
        props.setProperty("inter.broker.listener.name", "PLAINTEXT");
        props.setProperty("controller.quorum.voters", "1@" + advertised + ":" + controllerPort);
        props.setProperty("log.dirs", dir.toAbsolutePath().resolve("data").toString());
        props.setProperty("auto.create.topics.enable", "false");
        props.setProperty("offsets.topic.replication.factor", "1");
        props.setProperty("offsets.topic.num.partitions", "4");
        props.setProperty("transaction.state.log.replication.factor", "1");
        props.setProperty("transaction.state.log.min.isr", "1");
        props.setProperty("transaction.state.log.num.partitions", "4");
        props.setProperty("share.coordinator.state.topic.replication.factor", "1");
        props.setProperty("share.coordinator.state.topic.min.isr", "1");
        props.setProperty("group.initial.rebalance.delay.ms", "0");
        props.setProperty("min.insync.replicas", "1");
        props.setProperty("num.partitions", "1");
        // a restarted node re-registers once its old session expired: keep that short (default 9 s)
        props.setProperty("broker.session.timeout.ms", "3000");
        props.setProperty("broker.heartbeat.interval.ms", "500");
        // Flink's KafkaSink uses transactions that may stay open for a checkpoint interval
        props.setProperty("transaction.max.timeout.ms", String.valueOf(Duration.ofMinutes(15).toMillis()));
        return props;
    }

    /** A SASL_PLAINTEXT listener (mechanism PLAIN) beside the others, for {@code users}. */
    private static void saslPlain(Properties p, String host, int port, Map<String, String> users) {
        p.setProperty("listeners", p.getProperty("listeners") + ",SASL_PLAINTEXT://" + host + ":" + port);
        p.setProperty("advertised.listeners", p.getProperty("advertised.listeners") + ",SASL_PLAINTEXT://" + host + ":" + port);
        p.setProperty("sasl.enabled.mechanisms", "PLAIN");
        StringBuilder jaas = new StringBuilder("org.apache.kafka.common.security.plain.PlainLoginModule required");
        users.forEach((u, pw) -> jaas.append(" user_").append(u).append("=\"").append(pw).append('"'));
        p.setProperty("listener.name.sasl_plaintext.plain.sasl.jaas.config", jaas.append(';').toString());
    }

    /** "HOST:PORT" of the SASL/PLAIN listener, if the node has one. */
    public java.util.Optional<String> saslBootstrapServers() {
        for (String l : config.getProperty("advertised.listeners").split(","))
            if (l.startsWith("SASL_PLAINTEXT://")) return java.util.Optional.of(l.substring("SASL_PLAINTEXT://".length()));
        return java.util.Optional.empty();
    }

    private static int freePort(String host) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(host), 0));
            return s.getLocalPort();
        }
    }

    /** The first advertised listener's host:port: the bootstrap servers of a node {@link #prepare}d with {@code p}. */
    public static String advertised(Properties p) {
        String first = p.getProperty("advertised.listeners").split(",")[0];
        return first.substring(first.indexOf("://") + 3);
    }

    /** "HOST:PORT" of the client listener; the same across {@link #stopBroker()}/{@link #startBroker()} and restarts. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The node's configuration, as in its {@code server.properties}. */
    public Properties config() {
        Properties p = new Properties();
        p.putAll(config);
        return p;
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

    /** Stops the node; data and ports stay. */
    public synchronized void stopBroker() {
        long t0 = System.nanoTime();
        if (server != null) {
            server.shutdown();
            server.awaitShutdown();
            server = null;
        }
        LOG.info("Embedded Kafka stopped in {} ms", (System.nanoTime() - t0) / 1_000_000);
    }

    /** Starts the node (again) on its data directory and ports. */
    public synchronized void startBroker() {
        long t0 = System.nanoTime();
        try {
            KafkaRaftServer s = new KafkaRaftServer(KafkaConfig.fromProps(config, false), Time.SYSTEM);
            s.startup();
            server = s;
        } catch (RuntimeException e) {
            throw new IllegalStateException("embedded Kafka did not start on " + bootstrapServers + " (data " + dataDir + "): " + e, e);
        }
        LOG.info("Embedded Kafka started at {} in {} ms", bootstrapServers, (System.nanoTime() - t0) / 1_000_000);
    }

    public void restartBroker() {
        stopBroker();
        startBroker();
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        stopBroker();
        if (temporary) deleteTree(dataDir);
    }

    /** Deletes a directory and everything in it, if it exists. */
    public static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }

    public static final class Builder {
        private Path dataDir;
        private String bindAddress = "127.0.0.1";
        private int partitions = 1;
        private KafkaTopics topics = KafkaTopics.defaults();
        private final Map<String, Integer> extraTopics = new LinkedHashMap<>();
        private final Map<String, Object> brokerProperties = new HashMap<>();
        private final Map<String, String> saslUsers = new LinkedHashMap<>();

        private Builder() {}

        /** A SASL_PLAINTEXT listener (PLAIN) beside the plaintext one, that lets this user in ({@link #saslBootstrapServers()}). */
        public Builder saslPlainUser(String user, String password) {
            saslUsers.put(user, password);
            return this;
        }

        /**
         * Data directory: reopened if it holds a node (the same data and ports), else formatted;
         * kept on close. Default: a temporary directory, deleted on close.
         */
        public Builder dataDir(Path dir) {
            this.dataDir = dir;
            return this;
        }

        /** Address the listeners bind to and advertise (default 127.0.0.1, loopback), when the directory is formatted. */
        public Builder bindAddress(String address) {
            this.bindAddress = Objects.requireNonNull(address);
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

        /** A broker configuration property (overrides this class's defaults), when the directory is formatted. */
        public Builder brokerProperty(String key, Object value) {
            brokerProperties.put(key, value);
            return this;
        }

        /** {@link #start}, with what Kafka's test kit prints of its formatting steps on stdout sent to stderr: stdout is for a command's output. */
        public EmbeddedKafka startQuietly() {
            PrintStream stdout = System.out;
            System.setOut(System.err);
            try {
                return start();
            } finally {
                System.setOut(stdout);
            }
        }

        public EmbeddedKafka start() {
            long t0 = System.nanoTime();
            boolean temp = dataDir == null;
            Path dir;
            try {
                dir = temp ? Files.createTempDirectory("mistral-flink-kafka-") : dataDir.toAbsolutePath();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create a temporary Kafka data directory: " + e.getMessage(), e);
            }
            EmbeddedKafka kafka = new EmbeddedKafka(dir, temp, prepare(dir, brokerProperties, bindAddress, saslUsers));
            try {
                kafka.startBroker();
                Map<String, Integer> toCreate = new LinkedHashMap<>();
                for (String t : topics.all()) toCreate.put(t, partitions);
                toCreate.putAll(extraTopics);
                kafka.createTopics(toCreate);
                LOG.info("Embedded Kafka ready at {} (data {}, topics {}) in {} ms", kafka.bootstrapServers, dir,
                        toCreate, (System.nanoTime() - t0) / 1_000_000);
                return kafka;
            } catch (RuntimeException e) {
                try {
                    kafka.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
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
