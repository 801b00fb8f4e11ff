package io.mistralflink.job;

import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaTopics;
import org.testcontainers.containers.Network;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The second fixture of the Kafka suites: the broker image ({@code bin/images}: Kafka 4.2.0 from the
 * Maven jars, {@code mistral-flink-kafka:local}) under Testcontainers' {@link KafkaContainer} (the image
 * stands in for {@code apache/kafka}), on a Docker network made for it; the job, on the test's
 * MiniCluster, reaches it through the port Docker publishes on 127.0.0.1 (CI's daemon publishes there;
 * {@code TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1}). The default topics are created with
 * {@code partitions} each, as the embedded broker's are.
 */
final class KafkaBrokerContainer implements KafkaJobSupport.Broker {
    static final DockerImageName IMAGE = DockerImageName.parse(System.getProperty("mistralflink.kafkaImage", "mistral-flink-kafka:local"))
            .asCompatibleSubstituteFor("apache/kafka");

    private final Network network = Network.newNetwork();
    private final KafkaContainer kafka;

    KafkaBrokerContainer(int partitions) {
        kafka = new KafkaContainer(IMAGE).withNetwork(network).withNetworkAliases("kafka")
                .withEnv("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
                .withEnv("KAFKA_TRANSACTION_MAX_TIMEOUT_MS", "900000")
                .withEnv("KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS", "4");
        try {
            kafka.start();
            Map<String, Integer> topics = new LinkedHashMap<>();
            for (String t : KafkaTopics.defaults().all()) topics.put(t, partitions);
            EmbeddedKafka.createTopics(bootstrapServers(), topics);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override public String bootstrapServers() {
        String b = kafka.getBootstrapServers();
        return b.startsWith("PLAINTEXT://") ? b.substring("PLAINTEXT://".length()) : b;
    }

    @Override public void close() {
        kafka.stop();
        network.close();
    }
}
