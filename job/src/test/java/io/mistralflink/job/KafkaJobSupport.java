package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.KafkaJob;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.job.kafka.PrepareRequests;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.model.EngineOracle;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.tokenizer.ChatTemplate;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.*;

/** Requests, the engine-alone oracle, and the job on a local MiniCluster against an embedded broker. */
final class KafkaJobSupport {
    private KafkaJobSupport() {}

    static Path model() { return TestModels.model("tiny-mistral"); }

    /** tiny-mistral with a Mistral-style chat template (files linked into a temporary directory). */
    static Path chatModel() { return TestModels.chatModel(); }

    /**
     * Mixed requests from Brown text: short and long prompts (every 5th longer than the 64-token window,
     * so prefill takes several chunks), greedy and seeded alternately, some with stop strings.
     */
    static List<GenerationRequest> requests(String prefix, int n, int minTokens, int maxTokens, long seed) throws IOException {
        List<String> paragraphs = TestModels.brownParagraphs();
        SplittableRandom r = new SplittableRandom(seed);
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String p = paragraphs.get(r.nextInt(paragraphs.size()));
            int chars = i % 5 == 0 ? Math.min(p.length(), 900) : Math.min(p.length(), 10 + r.nextInt(150));
            GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId(prefix + i).setPrompt(p.substring(0, chars))
                    .setMaxNewTokens(minTokens + r.nextInt(maxTokens - minTokens + 1)).setMetadata(Map.of("n", Integer.toString(i)));
            if (i % 2 == 1) b.setTemperature(0.8f).setTopP(0.9f).setTopK(40).setSeed(1000L + i);
            if (i % 7 == 3) b.setStop(List.of(" the"));
            if (i % 3 == 0) b.setIgnoreEos(true);
            out.add(b.build());
        }
        return out;
    }

    /** What the engine alone generates for each request (the prompt rendered as the job renders it). */
    static Map<String, Sequence> oracle(Path modelDir, List<GenerationRequest> requests) {
        ChatTemplate template = ChatTemplate.load(modelDir).orElse(null);
        return EngineOracle.run(modelDir, requests.stream().map(q -> new EngineOracle.Request(q.getRequestId(),
                q.getPrompt() != null ? q.getPrompt() : template.render(PrepareRequests.turns(q.getMessages())), PrepareRequests.sampling(q))).toList());
    }

    /** Each request answered exactly once, as the engine alone answers it. */
    static void assertMatchesEngine(Map<String, Sequence> want, List<Completion> got, String modelId) {
        Map<String, Integer> counts = new HashMap<>();
        for (Completion c : got) counts.merge(c.getRequestId(), 1, Integer::sum);
        List<String> twice = counts.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).sorted().toList();
        assertTrue(twice.isEmpty(), "answered more than once: " + twice);
        List<String> missing = want.keySet().stream().filter(id -> !counts.containsKey(id)).sorted().toList();
        assertTrue(missing.isEmpty(), "not answered: " + missing);
        assertEquals(want.size(), got.size(), "one completion per request");
        for (Completion c : got) {
            Sequence s = want.get(c.getRequestId());
            assertNotNull(s, "unknown id " + c.getRequestId());
            assertEquals(java.util.Arrays.stream(s.generated()).boxed().toList(), c.getCompletionIds(), c.getRequestId() + " tokens");
            assertEquals(s.text(), c.getText(), c.getRequestId() + " text");
            assertEquals(s.finishReason().wire(), c.getFinishReason(), c.getRequestId() + " finish reason");
            assertEquals(s.promptLength(), c.getPromptTokens(), c.getRequestId() + " prompt tokens");
            assertEquals(s.generatedCount(), c.getCompletionTokens(), c.getRequestId() + " completion tokens");
            assertEquals(modelId, c.getModel());
        }
    }

    static Configuration fixedDelayRestarts(int attempts, long delayMs) {
        Configuration conf = KafkaJob.configuration(200, null);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, attempts);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(delayMs));
        return conf;
    }

    /** Starts the job from {@code savepoint} (no restarts), reads until {@code n} completions, and cancels it, still running. */
    static void resumeUntil(Broker kafka, PipelineConfig config, String savepoint, Reader completions, int n) throws Exception {
        Configuration conf = KafkaJob.configuration(200, savepoint);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        JobClient resumed = start(kafka, config, conf, options(config, 512));
        try {
            completions.atLeast(n, Duration.ofSeconds(150), Duration.ofSeconds(2));
            assertEquals(org.apache.flink.api.common.JobStatus.RUNNING, resumed.getJobStatus().get(10, java.util.concurrent.TimeUnit.SECONDS));
        } finally {
            Jobs.cancelAndWait(resumed);
        }
    }

    static Configuration noRestarts() {
        Configuration conf = KafkaJob.configuration(200, null);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        return conf;
    }

    static JobClient start(EmbeddedKafka kafka, PipelineConfig config, Configuration conf, KafkaJob.Options options) throws Exception {
        return start(kafka.bootstrapServers(), config, conf, options);
    }

    static JobClient start(Broker kafka, PipelineConfig config, Configuration conf, KafkaJob.Options options) throws Exception {
        return start(kafka.bootstrapServers(), config, conf, options);
    }

    /**
     * A bounded run ({@code options.untilLatest()}) to its end, as {@code run --until-latest} does it:
     * the job, then its group's offsets committed past what it answered. Returns the offsets committed.
     */
    static Map<TopicPartition, OffsetAndMetadata> runBounded(Broker kafka, PipelineConfig config, Configuration conf, KafkaJob.Options options) throws Exception {
        StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config, conf);
        KafkaIo io = new KafkaIo(kafka.bootstrapServers(), KafkaTopics.defaults(), "test");
        KafkaJob.build(env, io, config, options);
        KafkaJob.commitAnswered(env.executeAsync("kafka-job-test").getJobExecutionResult().get(120, TimeUnit.SECONDS), io, options);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            return admin.listConsumerGroupOffsets(options.groupId()).partitionsToOffsetAndMetadata().get();
        }
    }

    /** The prompts topic's end offsets, per partition. */
    static Map<TopicPartition, Long> endOffsets(Broker kafka) {
        try (Reader r = new Reader(kafka, KafkaTopics.DEFAULT_PROMPTS)) {
            return r.consumer.endOffsets(r.consumer.assignment());
        }
    }

    static JobClient start(String bootstrapServers, PipelineConfig config, Configuration conf, KafkaJob.Options options) throws Exception {
        StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config, conf);
        KafkaJob.build(env, new KafkaIo(bootstrapServers, KafkaTopics.defaults(), "test"), config, options);
        return env.executeAsync("kafka-job-test");
    }

    /**
     * The broker a suite runs against: the embedded one ({@link #embedded}), or the broker image in a
     * container ({@code KafkaBrokerContainer}, the suites' {@code *ContainerIT} twins).
     */
    interface Broker extends AutoCloseable {
        String bootstrapServers();
        @Override void close();
    }

    /** The embedded broker with the default topics, {@code partitions} each. */
    static Broker embedded(int partitions) {
        EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(partitions).start();
        return new Broker() {
            @Override public String bootstrapServers() { return kafka.bootstrapServers(); }
            @Override public void close() { kafka.close(); }
        };
    }

    static KafkaJob.Options options(PipelineConfig config, int maxNewTokensLimit) {
        return new KafkaJob.Options("test", Path.of(config.modelDir()).getFileName().toString(), maxNewTokensLimit, false);
    }

    static void produce(EmbeddedKafka kafka, List<GenerationRequest> requests) throws Exception {
        Produce.all(kafka.bootstrapServers(), KafkaTopics.DEFAULT_PROMPTS, requests);
    }

    static void produce(Broker kafka, List<GenerationRequest> requests) throws Exception {
        Produce.all(kafka.bootstrapServers(), KafkaTopics.DEFAULT_PROMPTS, requests);
    }

    /** A read_committed reader of one topic that keeps its position between calls. */
    static final class Reader implements AutoCloseable {
        final KafkaConsumer<byte[], byte[]> consumer;
        static final long PROGRESS_EVERY_NANOS = 10_000_000_000L;
        final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();

        Reader(EmbeddedKafka kafka, String topic) {
            this(kafka.bootstrapServers(), topic);
        }

        Reader(Broker kafka, String topic) {
            this(kafka.bootstrapServers(), topic);
        }

        Reader(String bootstrapServers, String topic) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            consumer = new KafkaConsumer<>(p);
            List<TopicPartition> parts = consumer.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
        }

        /** Polls until {@code done} holds for what was read, then for {@code settle} more (to catch duplicates). */
        List<ConsumerRecord<byte[], byte[]>> until(Predicate<List<ConsumerRecord<byte[], byte[]>>> done, Duration timeout, Duration settle) {
            return until(done, timeout, timeout, settle);
        }

        /**
         * As {@link #until}, and failing early once {@code stall} passes without a new record: a slow
         * machine takes longer, a job that stopped answering ends the wait. Prints the count every 10 s.
         */
        List<ConsumerRecord<byte[], byte[]>> until(Predicate<List<ConsumerRecord<byte[], byte[]>>> done, Duration timeout, Duration stall, Duration settle) {
            long start = System.nanoTime(), deadline = start + timeout.toNanos(), report = start + PROGRESS_EVERY_NANOS;
            long lastNew = start;
            while (!done.test(records) && System.nanoTime() < deadline && System.nanoTime() - lastNew < stall.toNanos()) {
                int before = records.size();
                consumer.poll(Duration.ofMillis(100)).forEach(records::add);
                if (records.size() > before) lastNew = System.nanoTime();
                if (System.nanoTime() > report) {   // a slow machine and a stall read differently in the test's output
                    System.out.printf("reader: %d records after %.0f s%n", records.size(), (System.nanoTime() - start) / 1e9);
                    report += PROGRESS_EVERY_NANOS;
                }
            }
            long settleEnd = System.nanoTime() + settle.toNanos();
            while (System.nanoTime() < settleEnd) consumer.poll(Duration.ofMillis(100)).forEach(records::add);
            return records;
        }

        List<ConsumerRecord<byte[], byte[]>> atLeast(int n, Duration timeout, Duration settle) {
            return until(r -> r.size() >= n, timeout, settle);
        }

        List<Completion> completions() {
            return records.stream().map(r -> {
                Completion c = WireCodec.decodeCompletion(r.value());
                assertEquals(c.getRequestId(), new String(r.key(), StandardCharsets.UTF_8), "key = request id");
                return c;
            }).toList();
        }

        @Override public void close() { consumer.close(); }
    }

    static GenerationRequest chat(String id, List<ChatMessage> messages, int maxNewTokens) {
        return GenerationRequest.newBuilder().setRequestId(id).setMessages(messages).setMaxNewTokens(maxNewTokens).build();
    }
}
