package io.mistralflink.job;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.mistralflink.job.kafka.Consume;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code run}, {@code produce}, {@code consume} and {@code demo}: the Kafka job from the command line. */
final class KafkaCommands {
    static final List<String> TOPIC_OPTIONS = List.of("bootstrap-servers", "prompts-topic", "completions-topic", "dead-letter-topic");

    static final String USAGE = """
              run      --model DIR [--bootstrap-servers H:P] [--prompts-topic T] [--completions-topic T]
                       [--dead-letter-topic T] [--checkpoint-interval-ms 1000] [--savepoint PATH]
                       [--savepoint-dir DIR] [--transactional-id-prefix mistral-flink] [--cluster] [--until-latest]
                       [pipeline options]
                       Kafka -> Kafka until Ctrl-C, on a local MiniCluster; without --bootstrap-servers on an
                       embedded broker; --cluster: submit to the cluster of the surrounding `flink run` and return;
                       --until-latest: answer the prompts up to the latest offsets at start, then finish (a
                       scheduled batch run; the next one starts where this one's committed offsets end)
              produce  --bootstrap-servers H:P --file F.jsonl [--topic prompts]
              consume  --bootstrap-servers H:P [--topic completions] [--follow] [--count N]
              run, produce, consume, demo: [--kafka-config FILE] [--kafka-property K=V ...]: Kafka client properties
                       (security.protocol, SASL, TLS, client.id, ...); run also [--group-id mistral-flink]
                       [--checkpoint-dir checkpoints] [--job-name run] [--fresh] [--bind-address 127.0.0.1]
              demo     [--count 8] [--model DIR] [--max-new-tokens 24]: embedded broker + job, Brown-corpus prompts
              kafka-bench --model DIR [--count 256] [--max-new-tokens 32] [--rounds 3] [--checkpoint-interval-ms 1000]
                       [pipeline options]: tokens/s Kafka to Kafka vs the same requests from a bounded input
              pipeline options: [--stages P] [--layer-split 0,3,6] [--lanes L] [--sequences-per-lane S]
                       [--max-batch-tokens T] [--parallelism R] [--buffer-timeout-ms 0]""";

    private KafkaCommands() {}

    static List<String> with(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    static KafkaTopics topics(Args a) {
        return new KafkaTopics(a.get("prompts-topic", KafkaTopics.DEFAULT_PROMPTS), a.get("completions-topic", KafkaTopics.DEFAULT_COMPLETIONS),
                a.get("dead-letter-topic", KafkaTopics.DEFAULT_DEAD_LETTERS));
    }

    static Args runArgs(String[] argv) {
        return new Args("run", argv, 1, with(with(PipelineArgs.OPTIONS, TOPIC_OPTIONS),
                List.of("checkpoint-interval-ms", "savepoint", "savepoint-dir", "partitions", "transactional-id-prefix",
                        "checkpoint-dir", "job-name", "bind-address", "group-id", "kafka-config", "kafka-property")), List.of("cluster", "until-latest", "fresh"));
    }

    /** Restarts for a job meant to run for days: keep trying, a few seconds apart. */
    static Configuration jobConfiguration(long checkpointMs, String savepoint) {
        Configuration conf = KafkaJob.configuration(checkpointMs, savepoint);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, Integer.MAX_VALUE);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(2));
        return conf;
    }

    /**
     * Where {@code run} keeps what must outlive its process: {@code DIR/JOB_NAME} holds the job's
     * retained checkpoints and the savepoints of its stops, {@code DIR/kafka} the embedded broker.
     */
    static RetainedCheckpoints checkpoints(Args a) {
        String name = a.get("job-name", a.flag("until-latest") ? "run-until-latest" : "run");
        if (name.equals(EMBEDDED_KAFKA_DIR)) throw new Args.UsageException("run: --job-name " + name + " is reserved for the embedded broker's data");
        try {
            return new RetainedCheckpoints(Path.of(a.get("checkpoint-dir", "checkpoints")), name);
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("run: --job-name: " + e.getMessage());
        }
    }

    static final String EMBEDDED_KAFKA_DIR = "kafka";

    /** The job's options from the command line: the source's consumer group (--group-id), bounded or not. */
    static KafkaJob.Options options(Args a, PipelineConfig config) {
        KafkaJob.Options o = KafkaJob.Options.defaults(config).untilLatest(a.flag("until-latest"));
        String group = a.get("group-id", o.groupId());
        if (group.isBlank()) throw new Args.UsageException("run: --group-id must not be empty");
        return new KafkaJob.Options(group, o.modelId(), o.maxNewTokensLimit(), o.untilLatest());
    }

    static int run(Args a, PrintStream out) {
        PipelineConfig config = PipelineArgs.parse(a);
        long checkpointMs = a.longValue("checkpoint-interval-ms", 1000);
        if (checkpointMs < 10) throw new Args.UsageException("run: --checkpoint-interval-ms must be >= 10");
        KafkaTopics topics = topics(a);
        String txPrefix = a.get("transactional-id-prefix", "mistral-flink");
        if (a.flag("cluster")) return submit(a, config, checkpointMs, topics, txPrefix, out);
        if (a.flag("fresh") && a.has("savepoint")) throw new Args.UsageException("run: give --fresh or --savepoint, not both");
        RetainedCheckpoints checkpoints = checkpoints(a);
        Configuration conf = jobConfiguration(checkpointMs, a.get("savepoint", null));
        String bind = a.get("bind-address", PipelineArgs.LOOPBACK);
        PipelineArgs.bindTo(conf, bind);
        Path work = checkpoints.localWorkingFiles(conf);
        if (a.has("savepoint") || a.flag("fresh")) {
            checkpoints.configure(conf);
            out.println("checkpoints: " + checkpoints.dir() + " (retained); " + (a.has("savepoint")
                    ? "resuming from " + a.get("savepoint", null) : "--fresh: not resuming, starting from the group's committed offsets"));
        } else {
            out.println("checkpoints: " + checkpoints.dir() + " (retained); " + checkpoints.configureResuming(conf)
                    .map(p -> "resuming from " + p).orElse("no earlier checkpoint of this job: starting from the group's committed offsets"));
        }
        EmbeddedKafka kafka = null;
        String bootstrap = a.get("bootstrap-servers", null);
        if (bootstrap == null) {
            Path data = checkpoints.dir().getParent().resolve(EMBEDDED_KAFKA_DIR);
            kafka = startQuietly(EmbeddedKafka.builder().dataDir(data).bindAddress(bind).topics(topics).partitions(a.integer("partitions", Math.max(1, config.parallelism()))));
            bootstrap = kafka.bootstrapServers();
            out.println("kafka: embedded broker listening on " + bootstrap + " (data in " + kafka.dataDir() + ", kept); topics "
                    + topics.prompts() + ", " + topics.completions() + ", " + topics.deadLetters());
        } else {
            out.println("kafka: " + bootstrap + "; topics " + topics.prompts() + " -> " + topics.completions() + ", " + topics.deadLetters());
        }
        out.flush();
        StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config, conf);
        KafkaJob.build(env, new KafkaIo(bootstrap, topics, txPrefix).withClientProperties(KafkaClientConfig.parse(a)), config, options(a, config));
        JobClient job;
        try {
            job = env.executeAsync("mistral-flink " + checkpoints.dir().getFileName());
        } catch (Exception e) {
            if (kafka != null) kafka.close();
            throw new IllegalStateException("the job did not start: " + e, e);
        }
        out.println("job " + job.getJobID() + " running on the local MiniCluster (" + io.mistralflink.operators.pipeline.Pipeline.slots(config) + " slots); Ctrl-C stops it");
        out.flush();
        pruneOnceCheckpointed(checkpoints, job);
        CountDownLatch stopped = new CountDownLatch(1);
        EmbeddedKafka broker = kafka;
        Path savepointDir = a.has("savepoint-dir") ? Path.of(a.get("savepoint-dir", null)).toAbsolutePath() : checkpoints.savepointDir();
        Thread hook = new Thread(() -> {
            try {
                // in-flight requests go into a savepoint; the next run resumes from it by itself (or from the
                // retained checkpoint, should the stop fail and the job be cancelled)
                String path = job.stopWithSavepoint(false, savepointDir.toUri().toString(), SavepointFormatType.CANONICAL)
                        .get(120, TimeUnit.SECONDS);
                out.println("stopped with a savepoint " + path + (a.has("savepoint-dir") ? "; resume with --savepoint " + path
                        : "; the next run of this job resumes from it"));
            } catch (Exception e) {
                out.println("stop: " + rootMessage(e) + "; cancelling (the retained checkpoint stays)");
                try { cancelAndWait(job); } catch (Exception ignored) { }
            } finally {
                if (broker != null) broker.close();
                EmbeddedKafka.deleteTree(work);
                out.flush();
                stopped.countDown();
            }
        }, "mistral-flink-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            job.getJobExecutionResult().get();
            return 0;
        } catch (Exception e) {
            if (stopped.getCount() == 0 || isShuttingDown(hook)) {
                awaitQuietly(stopped);
                return 0;
            }
            throw new IllegalStateException("the job failed: " + rootMessage(e), e);
        } finally {
            if (!isShuttingDown(hook)) {
                Runtime.getRuntime().removeShutdownHook(hook);
                if (kafka != null) kafka.close();
                EmbeddedKafka.deleteTree(work);
            } else {
                awaitQuietly(stopped);
            }
        }
    }

    /**
     * {@code run --cluster}: submits the job to the cluster of the surrounding Flink client
     * ({@code flink run ... io.mistralflink.job.Cli run --cluster ...}) and returns; the cluster's own
     * configuration (restart strategy, checkpoint storage, slots) applies, plus checkpointing here.
     */
    private static int submit(Args a, PipelineConfig config, long checkpointMs, KafkaTopics topics, String txPrefix, PrintStream out) {
        if (!a.has("bootstrap-servers")) throw new Args.UsageException("run --cluster: --bootstrap-servers is required (no embedded broker on a cluster)");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(KafkaJob.configuration(checkpointMs, a.get("savepoint", null)));
        env.setBufferTimeout(config.bufferTimeoutMs());
        KafkaJob.build(env, new KafkaIo(a.required("bootstrap-servers"), topics, txPrefix).withClientProperties(KafkaClientConfig.parse(a)), config,
                options(a, config));
        try {
            JobClient job = env.executeAsync("mistral-flink run");
            out.println("job " + job.getJobID() + " submitted (" + io.mistralflink.operators.pipeline.Pipeline.slots(config) + " slots)");
            return 0;
        } catch (Exception e) {
            throw new IllegalStateException("the job could not be submitted: " + rootMessage(e), e);
        }
    }

    /** Earlier jobs' checkpoint directories go once this job's first checkpoint is complete. */
    private static void pruneOnceCheckpointed(RetainedCheckpoints checkpoints, JobClient job) {
        Thread t = new Thread(() -> {
            try {
                while (!checkpoints.pruneEarlierJobs(job.getJobID().toString())) Thread.sleep(500);
            } catch (InterruptedException | RuntimeException e) {
                // the process is ending, or the directory cannot be read: the next run prunes
            }
        }, "mistral-flink-prune");
        t.setDaemon(true);
        t.start();
    }

    private static boolean isShuttingDown(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
            Runtime.getRuntime().addShutdownHook(hook);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }

    private static void awaitQuietly(CountDownLatch l) {
        try { l.await(150, TimeUnit.SECONDS); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }

    static String rootMessage(Throwable e) {
        while (e.getCause() != null && e.getCause() != e) e = e.getCause();
        return e.toString();
    }

    static int produce(Args a, PrintStream out) {
        int n = Produce.run(a.required("bootstrap-servers"), a.get("topic", KafkaTopics.DEFAULT_PROMPTS), Path.of(a.required("file")),
                KafkaClientConfig.parse(a), System.err);
        out.println("produced " + n + " request(s) to " + a.get("topic", KafkaTopics.DEFAULT_PROMPTS));
        return 0;
    }

    static int consume(Args a, PrintStream out) {
        int count = a.integer("count", 0);
        if (count < 0) throw new Args.UsageException("consume: --count must be >= 0");
        Consume.run(a.required("bootstrap-servers"), a.get("topic", KafkaTopics.DEFAULT_COMPLETIONS), a.flag("follow"), count,
                KafkaClientConfig.parse(a), out, System.err);
        return 0;
    }

    /** Home of the project (examples/), as the launcher passes it. */
    static Path home() {
        return Path.of(System.getProperty("mistral.flink.home", ".")).toAbsolutePath();
    }

    /** N prompts from the Brown corpus: paragraph openings, greedy and seeded alternately. */
    static List<GenerationRequest> brownRequests(Path corpus, int n, int maxNewTokens) {
        List<String> paragraphs = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        try (var in = new BufferedReader(new InputStreamReader(new XZInputStream(Files.newInputStream(corpus)), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null && paragraphs.size() < Math.max(64, 4 * n); )
                for (String p : json.readTree(line).get("text").asText().split("\n")) if (p.strip().length() > 40) paragraphs.add(p.strip());
        } catch (IOException e) {
            throw new UncheckedIOException(corpus + ": cannot be read", e);
        }
        SplittableRandom r = new SplittableRandom(7);
        for (int i = paragraphs.size() - 1; i > 0; i--) java.util.Collections.swap(paragraphs, i, r.nextInt(i + 1));
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String p = paragraphs.get(i % paragraphs.size());
            String prompt = p.substring(0, Math.min(p.length(), 60 + r.nextInt(120)));
            GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId(String.format("demo-%03d", i))
                    .setPrompt(prompt).setMaxNewTokens(maxNewTokens).setMetadata(Map.of("source", "brown"));
            if (i % 2 == 1) b.setTemperature(0.8f).setTopP(0.95f).setSeed(1000L + i);
            out.add(b.build());
        }
        return out;
    }

    static int demo(Args a, PrintStream out) {
        int count = a.integer("count", 8);
        if (count < 1) throw new Args.UsageException("demo: --count must be >= 1");
        Path model = a.has("model") ? Path.of(a.required("model")) : home().resolve("examples/models/tiny-mistral");
        if (!Files.isDirectory(model)) throw new Args.UsageException("demo: model directory " + model + " not found (give --model DIR)");
        Path corpus = home().resolve("examples/datasets/brown.jsonl.xz");
        if (!Files.isRegularFile(corpus)) throw new IllegalStateException("demo: " + corpus + " not found (is mistral.flink.home the repository root?)");
        PipelineConfig config = PipelineConfig.defaults(model.toAbsolutePath().toString()).withLanes(2).withSequencesPerLane(8);
        List<GenerationRequest> requests = brownRequests(corpus, count, a.integer("max-new-tokens", 24));
        KafkaTopics topics = KafkaTopics.defaults();
        try (EmbeddedKafka kafka = startQuietly(EmbeddedKafka.builder())) {
            System.err.println("kafka: embedded broker listening on " + kafka.bootstrapServers());
            produceAll(kafka.bootstrapServers(), topics.prompts(), requests);
            Configuration conf = jobConfiguration(500, null);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
            StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config, conf);
            KafkaJob.build(env, new KafkaIo(kafka.bootstrapServers(), topics, "mistral-flink-demo").withClientProperties(KafkaClientConfig.parse(a)),
                    config, KafkaJob.Options.defaults(config));
            JobClient job = env.executeAsync("mistral-flink demo");
            try {
                int seen = printCommitted(kafka.bootstrapServers(), List.of(topics.completions(), topics.deadLetters()), count,
                        Duration.ofSeconds(120), out);
                if (seen < count) throw new IllegalStateException("demo: " + seen + " of " + count + " answers within 120 s");
            } finally {
                cancelAndWait(job);
            }
            return 0;
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("demo failed: " + rootMessage(e), e);
        }
    }

    /** Cancels the job and waits until it has stopped (so that the broker outlives its clients). */
    static void cancelAndWait(JobClient job) throws Exception {
        job.cancel().get(60, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        try {
            while (!job.getJobStatus().get(10, TimeUnit.SECONDS).isGloballyTerminalState() && System.nanoTime() < deadline) Thread.sleep(50);
        } catch (java.util.concurrent.ExecutionException | IllegalStateException gone) {
            // the job's MiniCluster has shut down: it has stopped
        }
    }

    /** Kafka's test kit prints its formatting steps on stdout: keep stdout for our output. */
    static EmbeddedKafka startQuietly(EmbeddedKafka.Builder b) {
        PrintStream stdout = System.out;
        System.setOut(System.err);
        try {
            return b.start();
        } finally {
            System.setOut(stdout);
        }
    }

    static void produceAll(String bootstrap, String topic, List<GenerationRequest> requests) throws Exception {
        Properties p = KafkaIo.bytesProducer(bootstrap);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (GenerationRequest r : requests)
                producer.send(new ProducerRecord<>(topic, r.getRequestId().getBytes(StandardCharsets.UTF_8), WireCodec.encode(r)));
            producer.flush();
        }
    }

    /** Prints committed records of {@code topics} as JSON lines as they arrive, until {@code n} or the timeout. */
    static int printCommitted(String bootstrap, List<String> topics, int n, Duration timeout, PrintStream out) {
        Properties p = KafkaIo.committedBytesConsumer(bootstrap);
        int seen = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            for (String t : topics) c.partitionsFor(t).forEach(i -> parts.add(new TopicPartition(t, i.partition())));
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (seen < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                    out.println(Consume.toJson(r.value()));
                    seen++;
                }
                out.flush();
            }
        }
        return seen;
    }
}
