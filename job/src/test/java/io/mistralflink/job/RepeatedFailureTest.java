package io.mistralflink.job;

import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.operators.pipeline.FailureInjection;
import io.mistralflink.operators.pipeline.FailureLog;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import io.mistralflink.schemas.Completion;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A request that fails the job at every attempt, downstream of the decode, among 12 good ones sharing
 * its lanes: a stage throws on every step that carries it ({@link FailureInjection#poison}), or the
 * token feedback does, or the scheduler admitting it, or the results operator writing its completion.
 * The job (fixed-delay restarts, {@link FailureLog#SUSPECT_AFTER} + 2 attempts) notes the requests of
 * each failure in its failure log, runs the suspects alone in their lanes, and dead-letters the culprit
 * ("failed the job N times: <cause>") with its record's bytes, though it came back from state; every
 * other request is answered exactly once with the engine's text, and the job keeps running. Once those
 * are committed the log is empty again, and a new request reusing the culprit's id is served.
 */
@Timeout(240)
class RepeatedFailureTest {

    @AfterEach void disarm() { FailureInjection.disarm(); }

    @ParameterizedTest
    @EnumSource(FailureInjection.Point.class)
    void aRequestThatKeepsFailingTheJobIsDeadLetteredAndTheOthersAreAnswered(FailureInjection.Point point, @TempDir Path dir) throws Exception {
        Path model = KafkaJobSupport.model();
        List<GenerationRequest> good = KafkaJobSupport.requests("good-", 12, 16, 48, 41);
        GenerationRequest poison = GenerationRequest.newBuilder().setRequestId("poison").setPrompt("The jury said").setMaxNewTokens(24).build();
        List<GenerationRequest> all = new ArrayList<>(good.subList(0, 5));
        all.add(poison);
        all.addAll(good.subList(5, good.size()));
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, good);
        Map<String, Sequence> again = KafkaJobSupport.oracle(model, List.of(poison));
        PipelineConfig config = PipelineConfig.builder(model.toString()).lanes(2).sequencesPerLane(4).threadsPerStage(1).build();
        Configuration conf = KafkaJobSupport.fixedDelayRestarts(FailureLog.SUSPECT_AFTER + 2, 200);
        Path log = dir.resolve("failures");
        conf.set(PipelineOptions.GLOBAL_JOB_PARAMETERS, Map.of(FailureLog.PARAMETER, log.toString()));
        FailureInjection.poison(point, "poison");
        try (KafkaJobSupport.Broker kafka = KafkaJobSupport.embedded(2);
             KafkaJobSupport.Reader prompts = new KafkaJobSupport.Reader(kafka, "prompts");
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions");
             KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(kafka, "dead-letters")) {
            KafkaJobSupport.produce(kafka, all);
            byte[] original = prompts.atLeast(all.size(), Duration.ofSeconds(30), Duration.ZERO).stream()
                    .filter(r -> new String(r.key(), StandardCharsets.UTF_8).equals("poison")).findFirst().orElseThrow().value();
            JobClient job = KafkaJobSupport.start(kafka, config, conf, KafkaJobSupport.options(config, 512));
            try {
                deadLetters.atLeast(1, Duration.ofSeconds(180), Duration.ZERO);
                completions.atLeast(good.size(), Duration.ofSeconds(60), Duration.ofSeconds(2));
                deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300));
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS), "the job keeps running");
                FailureInjection.disarm();
                // the answers are committed: the log forgets their requests, and the culprit's id is free again
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (logged(log) > 0 && System.nanoTime() < deadline) Thread.sleep(100);
                assertEquals(0, logged(log), "the failure log is empty once every logged request is answered");
                KafkaJobSupport.produce(kafka, List.of(poison));
                completions.atLeast(good.size() + 1, Duration.ofSeconds(60), Duration.ofSeconds(1));
            } finally {
                Jobs.cancelAndWait(job);
            }
            DeadLetter d = WireCodec.decodeDeadLetter(deadLetters.records.getFirst().value());
            var times = java.util.regex.Pattern.compile("failed the job (\\d+) times").matcher(d.getReason());
            int failures = times.find() ? Integer.parseInt(times.group(1)) : 0;
            System.out.println("repeated failure in " + point + ": failed the job " + failures + " times; sent " + (all.size() + 1) + ", answered "
                    + completions.records.size() + ", dead letters " + deadLetters.records.size());
            assertEquals(1, deadLetters.records.size(), "one dead letter");
            assertEquals("poison", d.getRequestId());
            assertTrue(d.getReason().matches("refused: failed the job \\d+ times: .*injected failure in .* for request poison.*"), d.getReason());
            assertArrayEquals(original, bytes(d.getOriginal()), "the dead letter carries the record it came in");
            assertEquals("prompts", d.getTopic());
            assertTrue(failures >= FailureLog.SUSPECT_AFTER, "failing steps: " + failures);
            List<Completion> got = completions.completions();
            KafkaJobSupport.assertMatchesEngine(want, got.stream().filter(c -> !c.getRequestId().equals("poison")).toList(), "tiny-mistral");
            KafkaJobSupport.assertMatchesEngine(again, got.stream().filter(c -> c.getRequestId().equals("poison")).toList(), "tiny-mistral");
        }
    }

    private static long logged(Path log) throws Exception {
        if (!Files.isDirectory(log)) return 0;
        try (var files = Files.list(log)) { return files.filter(f -> f.toString().endsWith(".txt")).count(); }
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
