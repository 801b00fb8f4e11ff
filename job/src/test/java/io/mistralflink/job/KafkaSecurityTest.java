package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.KafkaJob;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.cli.RunCommand;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Kafka client properties from the command line ({@code --kafka-config FILE}, {@code
 * --kafka-property K=V}) against a broker whose listener wants SASL/PLAIN (on loopback): produce,
 * the job's source and sinks, and consume all authenticate with them; a wrong password ends
 * produce with one line naming the failure; the job's consumer group is the one given.
 */
@Timeout(180)
class KafkaSecurityTest {

    @Test void produceRunAndConsumeThroughASaslPlainListener(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("client.properties");
        Files.writeString(config, """
                security.protocol=SASL_PLAINTEXT
                sasl.mechanism=PLAIN
                sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";
                """);
        List<GenerationRequest> requests = KafkaJobSupport.requests("sasl-", 3, 4, 8, 43);
        Map<String, Sequence> want = KafkaJobSupport.oracle(KafkaJobSupport.model(), requests);
        Path prompts = dir.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (GenerationRequest r : requests)
            lines.add("{\"request_id\": \"" + r.getRequestId() + "\", \"prompt\": " + Json.MAPPER.writeValueAsString(r.getPrompt())
                    + ", \"max_new_tokens\": " + r.getMaxNewTokens() + (r.getTemperature() == null ? "" : ", \"temperature\": " + r.getTemperature()
                    + ", \"top_p\": " + r.getTopP() + ", \"top_k\": " + r.getTopK() + ", \"seed\": " + r.getSeed())
                    + (r.getStop().isEmpty() ? "" : ", \"stop\": [\" the\"]") + ", \"ignore_eos\": " + r.getIgnoreEos()
                    + ", \"metadata\": {\"n\": \"" + r.getMetadata().get("n") + "\"}}");
        Files.write(prompts, lines);

        try (EmbeddedKafka kafka = EmbeddedKafka.builder().saslPlainUser("alice", "alice-secret").start()) {
            String sasl = kafka.saslBootstrapServers().orElseThrow();
            assertTrue(sasl.startsWith("127.0.0.1:"), sasl);

            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> Cli.run(new String[]{"produce",
                    "--bootstrap-servers", sasl, "--file", prompts.toString(), "--kafka-config", config.toString(),
                    "--kafka-property", "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"wrong\";"},
                    new PrintStream(new ByteArrayOutputStream())));
            assertTrue(refused.getMessage().contains("Authentication failed"), refused.getMessage());
            assertFalse(refused.getMessage().contains("\n"), "one line: " + refused.getMessage());

            assertEquals(0, Cli.run(new String[]{"produce", "--bootstrap-servers", sasl, "--file", prompts.toString(),
                    "--kafka-config", config.toString()}, new PrintStream(new ByteArrayOutputStream())));

            PipelineConfig pipeline = PipelineConfig.builder(KafkaJobSupport.model().toString()).lanes(1).sequencesPerLane(4).threadsPerStage(1).build();
            RunCommand run = (RunCommand) Cli.parse("run", "--model", KafkaJobSupport.model().toString(), "--kafka-config", config.toString(),
                    "--kafka-property", "client.id=sasl-test", "--group-id", "sasl-group");
            StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(pipeline, KafkaJobSupport.noRestarts());
            KafkaJob.build(env, new KafkaIo(sasl, KafkaTopics.defaults(), "sasl-test").withClientProperties(run.clientProperties()), pipeline,
                    run.options(pipeline));
            JobClient job = env.executeAsync("sasl-test");
            try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions")) {
                completions.atLeast(requests.size(), Duration.ofSeconds(120), Duration.ofSeconds(1));
                KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
                try (var admin = kafka.admin()) {
                    // the source commits its offsets to the group given when a checkpoint completes
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                    while (admin.listConsumerGroupOffsets("sasl-group").partitionsToOffsetAndMetadata().get().keySet().stream()
                            .noneMatch(tp -> tp.topic().equals("prompts"))) {
                        assertTrue(System.nanoTime() < deadline, "offsets committed by the group given: " + admin.listConsumerGroups().all().get());
                        Thread.sleep(200);
                    }
                }
            } finally {
                Jobs.cancelAndWait(job);
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertEquals(0, Cli.run(new String[]{"consume", "--bootstrap-servers", sasl, "--kafka-config", config.toString()}, new PrintStream(out)));
            assertEquals(requests.size(), out.toString(StandardCharsets.UTF_8).lines().count(), out.toString(StandardCharsets.UTF_8));
        }
    }
}
