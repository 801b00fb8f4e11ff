package io.mistralflink.job.cli;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.KafkaJob;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.assembly.RetainedCheckpoints;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import org.apache.flink.api.common.JobExecutionResult;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code run}: the Kafka job until Ctrl-C (or, {@code --until-latest}, until the prompts that were there at
 * start are answered), on a local MiniCluster with retained checkpoints it resumes from by itself, or
 * ({@code --cluster}) submitted to the cluster of the surrounding {@code flink run}.
 */
@Command(name = "run", description = {
        "the Kafka job: Kafka -> Kafka until Ctrl-C, on a local MiniCluster; without --bootstrap-servers on an embedded broker. "
                + "It keeps retained checkpoints (and the embedded broker's data) under --checkpoint-dir and resumes from them by itself "
                + "after a crash or kill -9; Ctrl-C stops it with a savepoint the next run resumes from (docs/kafka.md)"})
public final class RunCommand extends CliCommand {
    @Option(names = "--bootstrap-servers", paramLabel = "H:P", description = "the Kafka cluster (default: an embedded broker, its data under --checkpoint-dir)")
    String bootstrapServers;

    @Option(names = "--prompts-topic", paramLabel = "T", defaultValue = KafkaTopics.DEFAULT_PROMPTS, description = "GenerationRequest records in")
    String promptsTopic;

    @Option(names = "--completions-topic", paramLabel = "T", defaultValue = KafkaTopics.DEFAULT_COMPLETIONS, description = "Completion records out")
    String completionsTopic;

    @Option(names = "--dead-letter-topic", paramLabel = "T", defaultValue = KafkaTopics.DEFAULT_DEAD_LETTERS, description = "DeadLetter records out: bad input, refusals")
    String deadLetterTopic;

    @Option(names = "--partitions", paramLabel = "N", description = "the embedded broker's partitions per topic (default: --parallelism)")
    Integer partitions;

    @Option(names = "--checkpoint-interval-ms", paramLabel = "MS", defaultValue = "1000", description = "how often completions are committed")
    long checkpointIntervalMs;

    @Option(names = "--checkpoint-dir", paramLabel = "D", defaultValue = "checkpoints", description = "DIR/JOB_NAME: retained checkpoints and the savepoints of stops; DIR/kafka: the embedded broker")
    Path checkpointDir;

    @Option(names = "--job-name", paramLabel = "NAME", description = "the job's directory under --checkpoint-dir (default: run, or run-until-latest)")
    String jobName;

    @Option(names = "--savepoint", paramLabel = "PATH", description = "resume from this savepoint or checkpoint")
    String savepoint;

    @Option(names = "--savepoint-dir", paramLabel = "DIR", description = "where Ctrl-C's savepoint goes (default: under the job's directory)")
    Path savepointDir;

    @Option(names = "--fresh", description = "do not resume: start from the consumer group's committed offsets")
    boolean fresh;

    @Option(names = "--transactional-id-prefix", paramLabel = "P", defaultValue = "mistral-flink", description = "of the exactly-once sinks' transactions")
    String transactionalIdPrefix;

    @Option(names = "--group-id", paramLabel = "G", defaultValue = "mistral-flink", description = "the source's consumer group")
    String groupId;

    @Option(names = "--bind-address", paramLabel = "A", defaultValue = LocalEnvironment.LOOPBACK, description = "where the local cluster's and the broker's servers listen")
    String bindAddress;

    @Option(names = "--until-latest", description = "answer the prompts up to the latest offsets at start, then finish (a scheduled batch over Kafka)")
    boolean untilLatest;

    @Option(names = "--cluster", description = "submit to the cluster of the surrounding `flink run` and return")
    boolean cluster;

    @Mixin PipelineOptions pipeline;

    @Mixin KafkaClientOptions kafkaClient;

    static final String EMBEDDED_KAFKA_DIR = "kafka";

    KafkaTopics topics() { return new KafkaTopics(promptsTopic, completionsTopic, deadLetterTopic); }

    /**
     * Where {@code run} keeps what must outlive its process: {@code DIR/JOB_NAME} holds the job's
     * retained checkpoints and the savepoints of its stops, {@code DIR/kafka} the embedded broker.
     */
    RetainedCheckpoints checkpoints() {
        String name = jobName != null ? jobName : untilLatest ? "run-until-latest" : "run";
        if (name.equals(EMBEDDED_KAFKA_DIR)) throw usage("--job-name " + name + " is reserved for the embedded broker's data");
        try {
            return new RetainedCheckpoints(checkpointDir, name);
        } catch (IllegalArgumentException e) {
            throw usage("--job-name: " + e.getMessage());
        }
    }

    /** The Kafka client properties of --kafka-config and --kafka-property. */
    public Map<String, String> clientProperties() { return kafkaClient.properties(); }

    /** The job's options from the command line: the source's consumer group (--group-id), bounded or not. */
    public KafkaJob.Options options(PipelineConfig config) {
        KafkaJob.Options o = KafkaJob.Options.defaults(config).untilLatest(untilLatest);
        if (groupId.isBlank()) throw usage("--group-id must not be empty");
        return new KafkaJob.Options(groupId, o.modelId(), o.maxNewTokensLimit(), o.untilLatest());
    }

    @Override public Integer call() {
        PipelineConfig config = pipeline.config();
        long checkpointMs = checkpointIntervalMs;
        if (checkpointMs < 10) throw usage("--checkpoint-interval-ms must be >= 10");
        KafkaTopics topics = topics();
        if (cluster) return submit(config, checkpointMs, topics);
        if (fresh && savepoint != null) throw usage("give --fresh or --savepoint, not both");
        RetainedCheckpoints checkpoints = checkpoints();
        Configuration conf = KafkaJob.restarting(checkpointMs, savepoint);
        String bind = bindAddress;
        LocalEnvironment.bindTo(conf, bind);
        Path work = checkpoints.localWorkingFiles(conf);
        if (savepoint != null || fresh) {
            checkpoints.configure(conf);
            out.println("checkpoints: " + checkpoints.dir() + " (retained); " + (savepoint != null
                    ? "resuming from " + savepoint : "--fresh: not resuming, starting from the group's committed offsets"));
        } else {
            out.println("checkpoints: " + checkpoints.dir() + " (retained); " + checkpoints.configureResuming(conf)
                    .map(p -> "resuming from " + p).orElse("no earlier checkpoint of this job: starting from the group's committed offsets"));
        }
        EmbeddedKafka kafka = null;
        String bootstrap = bootstrapServers;
        if (bootstrap == null) {
            Path data = checkpoints.dir().getParent().resolve(EMBEDDED_KAFKA_DIR);
            kafka = EmbeddedKafka.builder().dataDir(data).bindAddress(bind).topics(topics)
                    .partitions(partitions != null ? partitions : Math.max(1, config.parallelism())).startQuietly();
            bootstrap = kafka.bootstrapServers();
            out.println("kafka: embedded broker listening on " + bootstrap + " (data in " + kafka.dataDir() + ", kept); topics "
                    + topics.prompts() + ", " + topics.completions() + ", " + topics.deadLetters());
        } else {
            out.println("kafka: " + bootstrap + "; topics " + topics.prompts() + " -> " + topics.completions() + ", " + topics.deadLetters());
        }
        out.flush();
        StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config, conf);
        KafkaIo io = new KafkaIo(bootstrap, topics, transactionalIdPrefix).withClientProperties(clientProperties());
        KafkaJob.Options options = options(config);
        KafkaJob.build(env, io, config, options);
        JobClient job;
        try {
            job = env.executeAsync("mistral-flink " + checkpoints.dir().getFileName());
        } catch (Exception e) {
            if (kafka != null) kafka.close();
            throw new IllegalStateException("the job did not start: " + e, e);
        }
        out.println("job " + job.getJobID() + " running on the local MiniCluster (" + Pipeline.slots(config) + " slots); Ctrl-C stops it");
        out.flush();
        pruneOnceCheckpointed(checkpoints, job);
        CountDownLatch stopped = new CountDownLatch(1);
        EmbeddedKafka broker = kafka;
        Path savepoints = savepointDir != null ? savepointDir.toAbsolutePath() : checkpoints.savepointDir();
        Thread hook = new Thread(() -> {
            try {
                // in-flight requests go into a savepoint; the next run resumes from it by itself (or from the
                // retained checkpoint, should the stop fail and the job be cancelled)
                String path = job.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL)
                        .get(120, TimeUnit.SECONDS);
                out.println("stopped with a savepoint " + path + (savepointDir != null ? "; resume with --savepoint " + path
                        : "; the next run of this job resumes from it"));
            } catch (Exception e) {
                out.println("stop: " + Jobs.rootMessage(e) + "; cancelling (the retained checkpoint stays)");
                try { Jobs.cancelAndWait(job); } catch (Exception ignored) { }
            } finally {
                if (broker != null) broker.close();
                EmbeddedKafka.deleteTree(work);
                out.flush();
                stopped.countDown();
            }
        }, "mistral-flink-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        Exception failed = null;
        JobExecutionResult result = null;
        try {
            result = job.getJobExecutionResult().get();
        } catch (Exception e) {
            failed = e;
        }
        // the job is over: take the stop hook back; where the JVM is shutting down (Ctrl-C, SIGTERM) it
        // cannot be, and the hook's stop (its savepoint, the broker's close) is what ended the job
        if (!removed(hook)) {
            awaitQuietly(stopped);
            return 0;
        }
        if (failed == null) {
            try {
                KafkaJob.commitAnswered(result, io, options);   // the job ended by itself: a bounded run that answered all it read
            } catch (Exception e) {
                failed = e;
            }
        }
        if (kafka != null) kafka.close();
        EmbeddedKafka.deleteTree(work);
        if (failed != null) throw new IllegalStateException("the job failed: " + Jobs.rootMessage(failed), failed);
        return 0;
    }

    /**
     * {@code run --cluster}: submits the job to the cluster of the surrounding Flink client
     * ({@code flink run ... io.mistralflink.job.Cli run --cluster ...}) and returns; the cluster's own
     * configuration (restart strategy, checkpoint storage, slots) applies, plus checkpointing here.
     */
    private int submit(PipelineConfig config, long checkpointMs, KafkaTopics topics) {
        if (bootstrapServers == null) throw new UsageException("run --cluster: --bootstrap-servers is required (no embedded broker on a cluster)");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(KafkaJob.configuration(checkpointMs, savepoint));
        env.setBufferTimeout(config.bufferTimeoutMs());
        KafkaIo io = new KafkaIo(bootstrapServers, topics, transactionalIdPrefix).withClientProperties(clientProperties());
        KafkaJob.Options options = options(config);
        KafkaJob.build(env, io, config, options);
        try {
            JobClient job = env.executeAsync("mistral-flink run");
            out.println("job " + job.getJobID() + " submitted (" + Pipeline.slots(config) + " slots)"
                    + (untilLatest ? "; waiting for it to finish" : ""));
            out.flush();
            // a bounded run's client waits, to commit the group's offsets past what it answered
            if (untilLatest) KafkaJob.commitAnswered(job.getJobExecutionResult().get(), io, options);
            return 0;
        } catch (Exception e) {
            throw new IllegalStateException("the job could not be submitted: " + Jobs.rootMessage(e), e);
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

    /** Removes the stop hook; false where the JVM is shutting down, when hooks can no longer be removed (the hook runs, or has run). */
    private static boolean removed(Thread hook) {
        try {
            return Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            return false;
        }
    }

    private static void awaitQuietly(CountDownLatch l) {
        try { l.await(150, TimeUnit.SECONDS); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }
}
