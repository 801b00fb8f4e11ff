package io.mistralflink.job.cli;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.KafkaJob;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.cluster.FlinkClient;
import io.mistralflink.job.cluster.KafkaBrokerProcess;
import io.mistralflink.job.cluster.StandaloneCluster;
import io.mistralflink.job.common.Examples;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.job.kafka.Consume;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;

/**
 * {@code demo}: Brown-corpus prompts through the Kafka job on an embedded broker and a local MiniCluster,
 * the completions printed as JSON lines as they become visible (read_committed); with {@code --cluster}
 * on a real cluster of processes: a JobManager, two TaskManagers and a Kafka broker, the job submitted
 * with Flink's client (two stages, on different slots); then everything stopped.
 */
@Command(name = "demo", description = "embedded Kafka (KRaft) + local Flink + the tiny example model: Brown-corpus prompts in, completions out; "
        + "--cluster: the same on a session cluster of child JVMs (docs/cluster.md)")
public final class DemoCommand extends CliCommand {
    @Option(names = "--count", paramLabel = "N", defaultValue = "8", description = "prompts")
    int count;

    @Option(names = "--model", paramLabel = "DIR", description = "a Hugging Face checkpoint directory (default: examples/models/tiny-mistral)")
    Path model;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "24", description = "tokens generated per prompt at most")
    int maxNewTokens;

    @Option(names = "--cluster", description = "on a JobManager, two TaskManagers and a broker, each its own process on 127.0.0.1")
    boolean cluster;

    @Mixin KafkaClientOptions kafkaClient;

    @Override public Integer call() throws Exception {
        if (count < 1) throw usage("--count must be >= 1");
        Path dir = (model != null ? model : Examples.tinyMistral()).toAbsolutePath();
        if (!Files.isDirectory(dir)) throw usage("model directory " + (model != null ? model : dir) + " not found (give --model DIR)");
        Path corpus = Examples.brown();
        if (!Files.isRegularFile(corpus)) throw new IllegalStateException("demo: " + corpus + " not found (is mistral.flink.home the repository root?)");
        List<GenerationRequest> requests = Examples.brownRequests(corpus, count, maxNewTokens);
        return cluster ? onCluster(dir, requests) : local(dir, requests);
    }

    private int local(Path dir, List<GenerationRequest> requests) {
        PipelineConfig config = PipelineConfig.builder(dir.toString()).lanes(2).sequencesPerLane(8).build();
        KafkaTopics topics = KafkaTopics.defaults();
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().startQuietly()) {
            err.println("kafka: embedded broker listening on " + kafka.bootstrapServers());
            Produce.all(kafka.bootstrapServers(), topics.prompts(), requests);
            Configuration conf = KafkaJob.restarting(500, null);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
            StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config, conf);
            KafkaJob.build(env, new KafkaIo(kafka.bootstrapServers(), topics, "mistral-flink-demo").withClientProperties(kafkaClient.properties()),
                    config, KafkaJob.Options.defaults(config));
            JobClient job = env.executeAsync("mistral-flink demo");
            try {
                int seen = Consume.printCommitted(kafka.bootstrapServers(), List.of(topics.completions(), topics.deadLetters()), count,
                        Duration.ofSeconds(120), out);
                if (seen < count) throw new IllegalStateException("demo: " + seen + " of " + count + " answers within 120 s");
            } finally {
                Jobs.cancelAndWait(job);
            }
            return 0;
        } catch (IllegalStateException | UsageException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("demo failed: " + Jobs.rootMessage(e), e);
        }
    }

    private int onCluster(Path dir, List<GenerationRequest> requests) throws Exception {
        Path jar = StandaloneCluster.jobCode().filter(p -> p.toString().endsWith(".jar"))
                .orElseThrow(() -> new IllegalStateException("demo --cluster: the job's classes are not in a jar (run it through bin/mistral-flink)"));
        Path work = Files.createTempDirectory("mistral-flink-cluster-");
        long t0 = System.nanoTime();
        try (StandaloneCluster cluster = StandaloneCluster.start(work, StandaloneCluster.defaults(work, 2), 2, StandaloneCluster.runtimeClasspath(),
                Duration.ofSeconds(120));
             KafkaBrokerProcess kafka = KafkaBrokerProcess.start(work, cluster.classpath(), ClusterCommand.topics(2), Duration.ofSeconds(60))) {
            err.printf("cluster: JobManager %s, 2 TaskManagers, Kafka %s, each its own process (up in %.1f s; logs in %s)%n",
                    cluster.restAddress(), kafka.bootstrapServers(), (System.nanoTime() - t0) / 1e9, work.resolve("log"));
            Produce.all(kafka.bootstrapServers(), KafkaTopics.DEFAULT_PROMPTS, requests);
            FlinkClient client = cluster.client();
            String job = client.submit(jar, List.of(), List.of("--model", dir.toString(), "--bootstrap-servers", kafka.bootstrapServers(),
                    "--stages", "2", "--lanes", "2", "--sequences-per-lane", "8", "--checkpoint-interval-ms", "500",
                    "--transactional-id-prefix", "mistral-flink-demo"));
            err.println("job " + job + " submitted with flink run");
            try {
                int seen = Consume.printCommitted(kafka.bootstrapServers(), List.of(KafkaTopics.DEFAULT_COMPLETIONS, KafkaTopics.DEFAULT_DEAD_LETTERS),
                        count, Duration.ofSeconds(180), out);
                if (seen < count) throw new IllegalStateException("demo: " + seen + " of " + count + " answers within 180 s (logs in " + work.resolve("log") + ")");
            } finally {
                client.cancel(job);
            }
        }
        deleteTree(work);
        return 0;
    }

    private static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory: best effort
        }
    }
}
