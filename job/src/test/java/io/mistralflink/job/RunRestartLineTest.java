package io.mistralflink.job;

import io.mistralflink.job.kafka.Produce;
import io.mistralflink.schemas.GenerationRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A task of {@code run} fails (a stage throws once: {@code -Dmistralflink.failureInjection=STAGE:20} in
 * the child JVM, which runs with the product's own log4j2.properties): its stderr carries one line
 * saying the job restarts, naming the cause, and the job answers every request after the restart.
 */
@Timeout(400)
class RunRestartLineTest {

    @Test void aTaskFailureIsOneLineOnStderrWithItsCause(@TempDir Path dir) throws Exception {
        Path log4j = Path.of(Cli.class.getResource("/log4j2.properties").toURI());
        List<String> jvm = List.of("-Xmx1g", "-Dlog4j.configurationFile=" + log4j, "-Dmistralflink.failureInjection=STAGE:20");
        List<String> args = List.of("run", "--model", KafkaJobSupport.model().toString(), "--checkpoint-dir", dir.resolve("checkpoints").toString(),
                "--checkpoint-interval-ms", "300", "--lanes", "1", "--sequences-per-lane", "4", "--threads", "1");
        List<GenerationRequest> requests = KafkaJobSupport.requests("restart-", 4, 30, 40, 43);
        try (ChildJvm run = ChildJvm.start(dir, dir.resolve("run.log"), jvm, Cli.class.getName(), args)) {
            String bootstrap = RunCommandTest.awaitRunning(run);
            Produce.all(bootstrap, "prompts", requests);
            try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(bootstrap, "completions")) {
                completions.atLeast(requests.size(), Duration.ofSeconds(240), Duration.ZERO);
            }
            List<String> lines = run.output().lines().filter(l -> l.contains("mistral-flink: task failed")).toList();
            System.out.println("restart line: " + lines);
            assertEquals(1, lines.size(), run.output());
            String line = lines.getFirst();
            assertTrue(line.contains("the job restarts from its last checkpoint"), line);
            assertTrue(line.contains("switched from RUNNING to FAILED"), line);
            assertTrue(line.contains("cause: ") && line.contains("InjectedFailure") && line.contains("injected failure in stage 0"), line);
            assertFalse(run.output().contains("\tat org.apache.flink"), "no stack trace: " + run.output());
            run.kill();
        }
    }
}
