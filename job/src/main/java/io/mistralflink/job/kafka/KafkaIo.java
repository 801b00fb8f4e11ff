package io.mistralflink.job.kafka;

import io.mistralflink.schemas.Completion;
import io.mistralflink.operators.pipeline.Original;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.flink.util.function.SerializableFunction;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Builds the job's Kafka source and sinks.
 *
 * <ul>
 *   <li>{@link #promptSource(String)}: raw prompt records ({@link RawRecord}, with topic/partition/offset),
 *       read_committed, starting from the group's committed offsets (earliest if none); offsets are
 *       committed on checkpoints (for monitoring; Flink restores from its own state).</li>
 *   <li>{@link #completionSink()}, {@link #deadLetterSink()}: exactly-once (Kafka transactions
 *       committed on checkpoint), key = request id (UTF-8), value = Avro single-object encoding.
 *       Each sink gets its own transactional id prefix, derived from the one given here; the prefix
 *       must be unique per job on a cluster, and stable across restarts of the same job.</li>
 * </ul>
 *
 * <p>Exactly-once needs checkpointing: without it nothing is ever committed and read_committed
 * consumers see nothing.
 */
public final class KafkaIo implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Below the broker's default transaction.max.timeout.ms (15 min); must exceed the checkpoint interval by far. */
    public static final Duration DEFAULT_TRANSACTION_TIMEOUT = Duration.ofMinutes(10);

    private final String bootstrapServers;
    private final KafkaTopics topics;
    private final String transactionalIdPrefix;
    private final Map<String, String> producerProperties = new LinkedHashMap<>();
    private final Map<String, String> consumerProperties = new LinkedHashMap<>();

    public KafkaIo(String bootstrapServers, KafkaTopics topics, String transactionalIdPrefix) {
        this.bootstrapServers = Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        this.topics = Objects.requireNonNull(topics, "topics");
        this.transactionalIdPrefix = Objects.requireNonNull(transactionalIdPrefix, "transactionalIdPrefix");
        if (transactionalIdPrefix.isBlank()) throw new IllegalArgumentException("transactionalIdPrefix is blank");
        producerProperties.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, String.valueOf(DEFAULT_TRANSACTION_TIMEOUT.toMillis()));
    }

    /** A plain consumer of raw bytes that sees committed records only (CLI, tests). */
    public static java.util.Properties committedBytesConsumer(String bootstrapServers) {
        java.util.Properties p = new java.util.Properties();
        p.put(org.apache.kafka.clients.consumer.ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(org.apache.kafka.clients.consumer.ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(org.apache.kafka.clients.consumer.ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
        p.put(org.apache.kafka.clients.consumer.ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
        return p;
    }

    /** A plain producer of raw bytes, acknowledged by all replicas (CLI, tests). */
    public static java.util.Properties bytesProducer(String bootstrapServers) {
        java.util.Properties p = new java.util.Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.ByteArraySerializer.class.getName());
        return p;
    }

    /** Extra Kafka producer property for both sinks (e.g. transaction.timeout.ms, linger.ms). */
    public KafkaIo withProducerProperty(String key, String value) {
        producerProperties.put(key, value);
        return this;
    }

    /** Client properties for the source and both sinks alike (security.protocol, SASL, TLS, client.id, ...). */
    public KafkaIo withClientProperties(Map<String, String> properties) {
        producerProperties.putAll(properties);
        consumerProperties.putAll(properties);
        return this;
    }

    /** Extra Kafka consumer property for the source (e.g. partition.discovery.interval.ms). */
    public KafkaIo withConsumerProperty(String key, String value) {
        consumerProperties.put(key, value);
        return this;
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    public KafkaTopics topics() {
        return topics;
    }

    public String completionsTransactionalIdPrefix() {
        return transactionalIdPrefix + "-completions";
    }

    public String deadLettersTransactionalIdPrefix() {
        return transactionalIdPrefix + "-dead-letters";
    }

    /** Unbounded source of the prompts topic. */
    public KafkaSource<RawRecord> promptSource(String groupId) { return promptSource(groupId, false); }

    /**
     * Source of the prompts topic from the group's committed offsets (else the earliest); with
     * {@code untilLatest}, bounded at the latest offsets when the job starts: a scheduled run answers what
     * arrived since the last one and finishes.
     */
    public KafkaSource<RawRecord> promptSource(String groupId, boolean untilLatest) {
        var b = KafkaSource.<RawRecord>builder()
                .setBootstrapServers(bootstrapServers)
                .setTopics(topics.prompts())
                .setGroupId(groupId)
                .setClientIdPrefix(groupId)
                .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
                .setDeserializer(new RawRecordDeserializer())
                .setProperty(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")
                .setProperty("commit.offsets.on.checkpoint", "true");
        consumerProperties.forEach(b::setProperty);
        if (untilLatest) b.setBounded(OffsetsInitializer.latest());
        return b.build();
    }

    /**
     * Commits the group's offsets of the prompts topic past {@code highestRead} (partition -> the
     * highest offset a finished bounded run read, {@link ReadOffsets}), synchronously, and never
     * backwards. Returns what it committed.
     */
    public Map<TopicPartition, OffsetAndMetadata> commitAnswered(String groupId, Map<Integer, Long> highestRead) throws Exception {
        Map<String, Object> props = new HashMap<>(consumerProperties);
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        try (Admin admin = Admin.create(props)) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get();
            Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
            highestRead.forEach((partition, offset) -> {
                TopicPartition tp = new TopicPartition(topics.prompts(), partition);
                OffsetAndMetadata now = committed.get(tp);
                if (now == null || now.offset() <= offset) next.put(tp, new OffsetAndMetadata(offset + 1));
            });
            if (!next.isEmpty()) admin.alterConsumerGroupOffsets(groupId, next).all().get();
            return next;
        }
    }

    public KafkaSink<Completion> completionSink() {
        return exactlyOnce(new AvroRecordSerializer<Completion>(topics.completions(), Completion::getRequestId, WireCodec::encode), completionsTransactionalIdPrefix());
    }

    public KafkaSink<DeadLetter> deadLetterSink() {
        int limit = Integer.parseInt(producerProperties.getOrDefault(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(DEFAULT_MAX_REQUEST_SIZE)));
        return exactlyOnce(new AvroRecordSerializer<DeadLetter>(topics.deadLetters(), DeadLetter::getRequestId,
                d -> WireCodec.encode(fitted(d, limit))), deadLettersTransactionalIdPrefix());
    }

    /** The producer's default max.request.size. */
    static final int DEFAULT_MAX_REQUEST_SIZE = 1 << 20;
    /** Room left in a request for the record batch's framing, the key, the reason and the other fields. */
    static final int DEAD_LETTER_MARGIN = 64 << 10;

    /**
     * A dead letter that fits a producer request of {@code maxRequestSize} bytes: one whose original
     * would not carries its first bytes (half the request's size less a margin), the whole value's
     * length and SHA-256, so that it can still be told apart and found; an oversized reason is cut too.
     * Otherwise the sink's send fails, and with it the job, on every restart.
     */
    public static DeadLetter fitted(DeadLetter d, int maxRequestSize) {
        int budget = Math.max(0, maxRequestSize - DEAD_LETTER_MARGIN);
        String reason = d.getReason().length() > 4096 ? d.getReason().substring(0, 4096) + "..." : d.getReason();
        if (d.getOriginal().remaining() <= budget && reason == d.getReason()) return d;
        ByteBuffer whole = d.getOriginal().duplicate();
        int keep = Math.min(whole.remaining(), budget / 2);
        byte[] head = new byte[keep];
        whole.duplicate().get(head);
        DeadLetter.Builder b = DeadLetter.newBuilder(d).setReason(reason);
        if (keep < whole.remaining()) {
            b.setOriginal(ByteBuffer.wrap(head));
            // an original already cut (in the scheduler's state) keeps the length and SHA-256 of the whole
            if (d.getOriginalLength() == null) {
                byte[] all = new byte[whole.remaining()];
                whole.duplicate().get(all);
                b.setOriginalLength((long) all.length).setOriginalSha256(Original.sha256(all));
            }
        }
        return b.build();
    }

    private <T> KafkaSink<T> exactlyOnce(KafkaRecordSerializationSchema<T> serializer, String txPrefix) {
        var b = KafkaSink.<T>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(serializer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(txPrefix);
        producerProperties.forEach(b::setProperty);
        return b.build();
    }

    /** ConsumerRecord -> RawRecord, keeping topic/partition/offset; never fails. */
    public static final class RawRecordDeserializer implements KafkaRecordDeserializationSchema<RawRecord> {
        private static final long serialVersionUID = 1L;

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<RawRecord> out) {
            out.collect(new RawRecord(r.topic(), r.partition(), r.offset(), r.timestamp(), r.key(), r.value()));
        }

        @Override
        public TypeInformation<RawRecord> getProducedType() {
            return TypeInformation.of(RawRecord.class);
        }
    }

    /** key = request_id (null when unknown), value = single-object Avro. */
    public static final class AvroRecordSerializer<T> implements KafkaRecordSerializationSchema<T> {
        private static final long serialVersionUID = 1L;
        private final String topic;
        private final SerializableFunction<T, String> key;
        private final SerializableFunction<T, byte[]> value;

        public AvroRecordSerializer(String topic, SerializableFunction<T, String> key, SerializableFunction<T, byte[]> value) {
            this.topic = topic;
            this.key = key;
            this.value = value;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(T record, KafkaSinkContext ctx, Long timestamp) {
            return new ProducerRecord<>(topic, null, timestamp, utf8(key.apply(record)), value.apply(record));
        }
    }

    private static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }
}
