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
import org.junit.jupiter.api.Test;
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
 * A request that fails the job at every attempt, downstream of the decode (a stage throws on every
 * step that carries it: {@link FailureInjection#poison}), among 12 good ones sharing its lanes. The
 * job (fixed-delay restarts, {@link FailureLog#SUSPECT_AFTER} + 2 attempts) notes each failing step's
 * requests in its failure log, runs the suspects alone in their lanes, and dead-letters the culprit
 * ("failed the job N times: <cause>"); every other request is answered exactly once with the engine's
 * text, and the job keeps running.
 */
@Timeout(240)
class RepeatedFailureTest {

    @AfterEach void disarm() { FailureInjection.disarm(); }

    @Test void aRequestThatKeepsFailingTheJobIsDeadLetteredAndTheOthersAreAnswered(@TempDir Path dir) throws Exception {
        Path model = KafkaJobSupport.model();
        List<GenerationRequest> good = KafkaJobSupport.requests("good-", 12, 16, 48, 41);
        GenerationRequest poison = GenerationRequest.newBuilder().setRequestId("poison").setPrompt("The jury said").setMaxNewTokens(24).build();
        List<GenerationRequest> all = new ArrayList<>(good.subList(0, 5));
        all.add(poison);
        all.addAll(good.subList(5, good.size()));
        Map<String, Sequence> want = KafkaJobSupport.oracle(model, good);
        PipelineConfig config = PipelineConfig.builder(model.toString()).lanes(2).sequencesPerLane(4).threadsPerStage(1).build();
        Configuration conf = KafkaJobSupport.fixedDelayRestarts(FailureLog.SUSPECT_AFTER + 2, 200);
        Path log = dir.resolve("failures");
        conf.set(PipelineOptions.GLOBAL_JOB_PARAMETERS, Map.of(FailureLog.PARAMETER, log.toString()));
        FailureInjection.poison("poison");
        try (KafkaJobSupport.Broker kafka = KafkaJobSupport.embedded(2);
             KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(kafka, "completions");
             KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(kafka, "dead-letters")) {
            KafkaJobSupport.produce(kafka, all);
            JobClient job = KafkaJobSupport.start(kafka, config, conf, KafkaJobSupport.options(config, 512));
            try {
                deadLetters.atLeast(1, Duration.ofSeconds(180), Duration.ZERO);
                completions.atLeast(good.size(), Duration.ofSeconds(60), Duration.ofSeconds(2));
                deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300));
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS), "the job keeps running");
            } finally {
                Jobs.cancelAndWait(job);
            }
            long failures;
            try (var files = Files.list(log)) { failures = files.count(); }
            System.out.println("repeated failure: " + failures + " failing steps logged; sent " + all.size() + ", answered "
                    + completions.records.size() + ", dead letters " + deadLetters.records.size());
            assertEquals(1, deadLetters.records.size(), "one dead letter");
            DeadLetter d = WireCodec.decodeDeadLetter(deadLetters.records.getFirst().value());
            assertEquals("poison", d.getRequestId());
            assertTrue(d.getReason().matches("refused: failed the job \\d+ times: .*injected failure in stage 0 for request poison.*"), d.getReason());
            assertTrue(failures >= FailureLog.SUSPECT_AFTER, "failing steps: " + failures);
            KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
        }
    }
}
