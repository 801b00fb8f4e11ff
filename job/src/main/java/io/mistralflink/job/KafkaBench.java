package io.mistralflink.job;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.job.kafka.PrepareRequests;
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
final class KafkaBench {
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

    static Args args(String[] argv) {
        return new Args("kafka-bench", argv, 1, KafkaCommands.with(PipelineArgs.OPTIONS,
                List.of("count", "max-new-tokens", "rounds", "checkpoint-interval-ms")), List.of("json", "bounded-checkpoints"));
    }

    static int run(Args a, PrintStream out) {
        try {
            return bench(a, out);
        } catch (Args.UsageException | IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("kafka-bench failed: " + KafkaCommands.rootMessage(e), e);
        }
    }

    private static int bench(Args a, PrintStream out) throws Exception {
        PipelineConfig config = PipelineArgs.parse(a);
        int n = a.integer("count", 256), maxNew = a.integer("max-new-tokens", 32), rounds = a.integer("rounds", 3);
        long checkpointMs = a.longValue("checkpoint-interval-ms", 1000);
        if (n < 1 || maxNew < 1 || rounds < 1) throw new Args.UsageException("kafka-bench: --count, --max-new-tokens and --rounds must be >= 1");
        Path corpus = KafkaCommands.home().resolve("examples/datasets/brown.jsonl.xz");
        if (!Files.isRegularFile(corpus)) throw new IllegalStateException("kafka-bench: " + corpus + " not found");
        List<GenerationRequest> requests = new ArrayList<>();
        for (GenerationRequest r : KafkaCommands.brownRequests(corpus, n, maxNew)) { r.setIgnoreEos(true); requests.add(r); }
        double load0 = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        List<Result> results = new ArrayList<>();
        List<Double> ratios = new ArrayList<>(), steadyRatios = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            // alternate the order, so that drift in the machine's load does not favour one mode
            Result b, k;
            // --bounded-checkpoints: the bounded run checkpoints at the same interval (to tell the cost of checkpoints from Kafka's)
            long boundedCheckpointMs = a.flag("bounded-checkpoints") ? checkpointMs : 0;
            if (round % 2 == 1) { b = bounded(config, requests, round, boundedCheckpointMs); k = kafka(config, requests, round, checkpointMs); }
            else { k = kafka(config, requests, round, checkpointMs); b = bounded(config, requests, round, boundedCheckpointMs); }
            results.add(b);
            results.add(k);
            if (round > 1 || rounds == 1) { // round 1 warms the JIT
                ratios.add(k.tokPerS() / b.tokPerS());
                steadyRatios.add(k.steadyTokPerS() / b.steadyTokPerS());
            }
            if (!a.flag("json")) {
                for (Result r : List.of(b, k))
                    out.printf("round %d %-8s %5d requests %7d tokens  %6.2f s  %8.1f tok/s end to end  %8.1f tok/s steady%n",
                            r.round, r.mode, r.requests, r.tokens, r.wallS, r.tokPerS(), r.steadyTokPerS());
                out.flush();
            }
        }
        double load1 = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        double ratio = median(ratios), steadyRatio = median(steadyRatios);
        if (a.flag("json")) {
            ObjectNode o = Cli.JSON.createObjectNode();
            o.put("model", Path.of(config.modelDir()).getFileName().toString());
            o.put("cores", Runtime.getRuntime().availableProcessors());
            o.put("load_average_before", load0);
            o.put("load_average_after", load1);
            ArrayNode rs = o.putArray("results");
            for (Result r : results)
                rs.addObject().put("round", r.round).put("mode", r.mode).put("requests", r.requests).put("tokens", r.tokens)
                        .put("wall_s", r.wallS).put("tok_s", r.tokPerS()).put("steady_tok_s", r.steadyTokPerS());
            o.put("kafka_vs_bounded_median", ratio);
            o.put("kafka_vs_bounded_steady_median", steadyRatio);
            out.println(o);
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
            StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config,
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
        try (EmbeddedKafka kafka = KafkaCommands.startQuietly(EmbeddedKafka.builder().partitions(config.parallelism()))) {
            KafkaCommands.produceAll(kafka.bootstrapServers(), topics.prompts(), requests);
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
                List<TopicPartition> parts = c.partitionsFor(topics.completions()).stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
                c.assign(parts);
                c.seekToBeginning(parts);
                Configuration conf = KafkaCommands.jobConfiguration(checkpointMs, null);
                StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config, conf);
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
                    KafkaCommands.cancelAndWait(job);
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
