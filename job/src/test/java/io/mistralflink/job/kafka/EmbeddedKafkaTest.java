package io.mistralflink.job.kafka;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(90)
class EmbeddedKafkaTest {

    @Test
    void startsCreatesTopicsAndSurvivesABrokerRestart(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("kafka");
        long t0 = System.nanoTime();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(data).partitions(2).topic("extra", 1).start()) {
            long startMs = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(startMs < 20_000, "start took " + startMs + " ms");
            assertTrue(kafka.bootstrapServers().startsWith("127.0.0.1:"), kafka.bootstrapServers());
            assertTrue(kafka.listTopics().containsAll(Set.of("prompts", "completions", "dead-letters", "extra")));
            try (var admin = kafka.admin()) {
                assertEquals(2, admin.describeTopics(List.of("prompts")).allTopicNames().get().get("prompts").partitions().size());
            }

            produceTransactionally(kafka.bootstrapServers(), "tx-before", "before-1", "before-2");
            assertEquals(List.of("before-1", "before-2"), readCommitted(kafka.bootstrapServers(), 2));

            String bootstrap = kafka.bootstrapServers();
            kafka.restartBroker();
            assertEquals(bootstrap, kafka.bootstrapServers());

            // same address, old data still there, new transactions work
            produceTransactionally(kafka.bootstrapServers(), "tx-after", "after-1");
            assertEquals(List.of("before-1", "before-2", "after-1"), readCommitted(kafka.bootstrapServers(), 3));
        }
        assertTrue(Files.isDirectory(data), "a caller's data directory is kept");
        // another node on the same directory (as a process started after a kill -9 would): same port, same data
        String first;
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(data).partitions(2).start()) {
            first = kafka.bootstrapServers();
            assertEquals(List.of("before-1", "before-2", "after-1"), readCommitted(kafka.bootstrapServers(), 3));
        }
        assertEquals(first, EmbeddedKafka.prepare(data, java.util.Map.of(), "127.0.0.1").getProperty("advertised.listeners").substring("PLAINTEXT://".length()));
    }

    static void produceTransactionally(String bootstrap, String txId, String... values) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (String v : values) producer.send(new ProducerRecord<>("extra", v, v));
            producer.commitTransaction();
        }
    }

    static List<String> readCommitted(String bootstrap, int n) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            var parts = c.partitionsFor("extra").stream()
                    .map(i -> new org.apache.kafka.common.TopicPartition(i.topic(), i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (out.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) out.add(r.value());
            }
        }
        return out;
    }
}
