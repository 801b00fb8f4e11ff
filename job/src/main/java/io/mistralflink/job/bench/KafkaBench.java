package io.mistralflink.job.bench;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.KafkaJob;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.common.Examples;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.job.kafka.PrepareRequests;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code kafka-bench}: the same requests through the pipeline twice in this JVM, on the same local
 * MiniCluster settings: from a bounded in-memory input ({@code env.fromData}, as the batch mode
 * feeds it) and Kafka to Kafka (embedded broker, exactly-once sinks, read_committed reader).
 * Generated tokens per second, end to end (job submitted to the last completion seen by the reader:
 * for Kafka, committed and read back) and steady (first to last completion written by the job: the
 * sink's clock for the bounded run, the Kafka record timestamps, set when the transactional sink
 * writes, for the Kafka run; this leaves out job start-up and the commit delay), for each of
 * {@code --rounds} rounds (the first warms the JIT).
 */
public final class KafkaBench {
    private static final Map<String, Stats> RUNS = new ConcurrentHashMap<>();

    static final class Stats {
        final AtomicLong firstWritten = new AtomicLong(Long.MAX_VALUE), lastWritten = new AtomicLong(), lastSeen = new AtomicLong(),
                tokens = new AtomicLong(), count = new AtomicLong();

        /** Times in wall-clock milliseconds. */
        void record(long written, long seen, int generated) {
            firstWritten.accumulateAndGet(written, Math::min);
            lastWritten.accumulateAndGet(written, Math::max);
            lastSeen.accumulateAndGet(seen, Math::max);
            tokens.addAndGet(generated);
            count.incrementAndGet();
        }

        Result result(String mode, int round, long t0) {
            return new Result(mode, round, count.get(), tokens.get(), (lastSeen.get() - t0) / 1e3, (lastWritten.get() - firstWritten.get()) / 1e3);
        }
    }

    record Result(String mode, int round, long requests, long tokens, double wallS, double steadyS) {
        double tokPerS() { return tokens / wallS; }
        double steadyTokPerS() { return steadyS > 0 ? tokens / steadyS : Double.NaN; }
    }

    private KafkaBench() {}

    /** What to run: {@code count} Brown prompts of {@code maxNewTokens} each, {@code rounds} times each way. */
    public record Settings(int count, int maxNewTokens, int rounds, long checkpointIntervalMs, boolean boundedCheckpoints, boolean json) {}

    record Report(String model, int cores, double loadAverageBefore, double loadAverageAfter, List<Row> results,
                  double kafkaVsBoundedMedian, double kafkaVsBoundedSteadyMedian) {}

    record Row(int round, String mode, long requests, long tokens, double wallS, double tokS, double steadyTokS) {
        Row(Result r) { this(r.round, r.mode, r.requests, r.tokens, r.wallS, r.tokPerS(), r.steadyTokPerS()); }
    }

    public static int run(PipelineConfig config, Settings s, PrintStream out) {
        try {
            return bench(config, s, out);
        } catch (UsageException | IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("kafka-bench failed: " + Jobs.rootMessage(e), e);
        }
    }

    private static int bench(PipelineConfig config, Settings a, PrintStream out) throws Exception {
        int n = a.count(), maxNew = a.maxNewTokens(), rounds = a.rounds();
        long checkpointMs = a.checkpointIntervalMs();
        Path corpus = Examples.brown();
        if (!Files.isRegularFile(corpus)) throw new IllegalStateException("kafka-bench: " + corpus + " not found");
        List<GenerationRequest> requests = new ArrayList<>();
        for (GenerationRequest r : Examples.brownRequests(corpus, n, maxNew)) { r.setIgnoreEos(true); requests.add(r); }
        double load0 = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        List<Result> results = new ArrayList<>();
        List<Double> ratios = new ArrayList<>(), steadyRatios = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            // alternate the order, so that drift in the machine's load does not favour one mode
            Result b, k;
            // --bounded-checkpoints: the bounded run checkpoints at the same interval (to tell the cost of checkpoints from Kafka's)
            long boundedCheckpointMs = a.boundedCheckpoints() ? checkpointMs : 0;
            if (round % 2 == 1) { b = bounded(config, requests, round, boundedCheckpointMs); k = kafka(config, requests, round, checkpointMs); }
            else { k = kafka(config, requests, round, checkpointMs); b = bounded(config, requests, round, boundedCheckpointMs); }
            results.add(b);
            results.add(k);
            if (round > 1 || rounds == 1) { // round 1 warms the JIT
                ratios.add(k.tokPerS() / b.tokPerS());
                steadyRatios.add(k.steadyTokPerS() / b.steadyTokPerS());
            }
            if (!a.json()) {
                for (Result r : List.of(b, k))
                    out.printf("round %d %-8s %5d requests %7d tokens  %6.2f s  %8.1f tok/s end to end  %8.1f tok/s steady%n",
                            r.round, r.mode, r.requests, r.tokens, r.wallS, r.tokPerS(), r.steadyTokPerS());
                out.flush();
            }
        }
        double load1 = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        double ratio = median(ratios), steadyRatio = median(steadyRatios);
        if (a.json()) {
            out.println(Json.line(new Report(Path.of(config.modelDir()).getFileName().toString(), Runtime.getRuntime().availableProcessors(),
                    load0, load1, results.stream().map(Row::new).toList(), ratio, steadyRatio)));
        } else {
            out.printf("Kafka/bounded, median of rounds %s: %.3f end to end, %.3f steady; %d cores, load average %.2f before, %.2f after%n",
                    rounds == 1 ? "1" : "2.." + rounds, ratio, steadyRatio, Runtime.getRuntime().availableProcessors(), load0, load1);
        }
        return 0;
    }

    static double median(List<Double> v) {
        List<Double> s = v.stream().sorted().toList();
        return s.isEmpty() ? Double.NaN : s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
    }

    private static InferenceRequest toInference(GenerationRequest g) {
        return new InferenceRequest(g.getRequestId(), g.getPrompt(), PrepareRequests.sampling(g), Map.of(), System.currentTimeMillis());
    }

    static Result bounded(PipelineConfig config, List<GenerationRequest> requests, int round, long checkpointMs) throws Exception {
        String id = UUID.randomUUID().toString();
        Stats s = new Stats();
        RUNS.put(id, s);
        try {
            StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config,
                    checkpointMs > 0 ? KafkaJob.configuration(checkpointMs, null) : new Configuration());
            List<InferenceRequest> in = requests.stream().map(KafkaBench::toInference).toList();
            Pipeline.build(env.fromData(in).setParallelism(1), config).sinkTo(new Count(id)).setParallelism(1);
            long t0 = System.currentTimeMillis();
            env.execute("kafka-bench bounded");
            return s.result("bounded", round, t0);
        } finally {
            RUNS.remove(id);
        }
    }

    static Result kafka(PipelineConfig config, List<GenerationRequest> requests, int round, long checkpointMs) throws Exception {
        KafkaTopics topics = KafkaTopics.defaults();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(config.parallelism()).startQuietly()) {
            Produce.all(kafka.bootstrapServers(), topics.prompts(), requests);
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                List<TopicPartition> parts = c.partitionsFor(topics.completions()).stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
                c.assign(parts);
                c.seekToBeginning(parts);
                Configuration conf = KafkaJob.restarting(checkpointMs, null);
                StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config, conf);
                KafkaJob.build(env, new KafkaIo(kafka.bootstrapServers(), topics, "kafka-bench"), config, KafkaJob.Options.defaults(config));
                long t0 = System.currentTimeMillis();
                JobClient job = env.executeAsync("kafka-bench kafka");
                Stats s = new Stats();
                try {
                    long deadline = t0 + Duration.ofMinutes(10).toMillis();
                    while (s.count.get() < requests.size() && System.currentTimeMillis() < deadline)
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(20))) {
                            Completion done = WireCodec.decodeCompletion(r.value());
                            s.record(r.timestamp(), System.currentTimeMillis(), done.getCompletionTokens());
                        }
                } finally {
                    Jobs.cancelAndWait(job);
                }
                if (s.count.get() < requests.size()) throw new IllegalStateException("kafka-bench: " + s.count.get() + " of " + requests.size() + " completions");
                return s.result("kafka", round, t0);
            }
        }
    }

    private record Count(String run) implements Sink<CompletionResult> {
        @Override public SinkWriter<CompletionResult> createWriter(WriterInitContext context) {
            return new SinkWriter<>() {
                @Override public void write(CompletionResult r, Context c) { long now = System.currentTimeMillis();
                    RUNS.get(run).record(now, now, r.completionIds().length); }
                @Override public void flush(boolean endOfInput) {}
                @Override public void close() {}
            };
        }
    }
}
