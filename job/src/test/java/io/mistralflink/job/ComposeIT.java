package io.mistralflink.job;

import io.mistralflink.job.cluster.FlinkRest;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.schemas.GenerationRequest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code docker-compose.yml} as users run it, on the images {@code bin/images} built: the broker,
 * topics, JobManager, two TaskManagers and the submitting container come up; prompts produced from
 * the host (127.0.0.1:29092) come back on the completions topic read_committed; a TaskManager container
 * is SIGKILLed mid-generation and the job recovers on the other's slots: every request answered exactly
 * once, as the engine alone answers it; the TaskManagers' Prometheus endpoints (127.0.0.1:9250, 9251)
 * export the job's inference metrics. Then everything is torn down ({@code down -v}). Run by CI after it
 * starts Docker and builds the images (Maven profile {@code containers}).
 */
@Tag("containers")
@Timeout(900)
class ComposeIT {
    private static final String PROJECT = "mistral-flink-ci";
    private static final String KAFKA = "127.0.0.1:29092";

    @Test void upProduceKillATaskManagerConsumeScrapeDown() throws Exception {
        Path root = Path.of("..").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(root.resolve("docker-compose.yml")), "run from the job module of the repository");
        List<GenerationRequest> requests = KafkaJobSupport.requests("compose-", 24, 32, 96, 53);
        Map<String, Sequence> want = KafkaJobSupport.oracle(KafkaJobSupport.model(), requests);
        long t0 = System.nanoTime();
        compose(root, 600, "up", "-d");
        try {
            FlinkRest rest = new FlinkRest("http://127.0.0.1:8081");
            String job = awaitRunningJob(rest);
            System.out.printf("compose IT: up and the job running in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(KAFKA, "completions");
                 KafkaJobSupport.Reader deadLetters = new KafkaJobSupport.Reader(KAFKA, "dead-letters")) {
                Produce.all(KAFKA, "prompts", requests);
                int before = completions.atLeast(1, Duration.ofSeconds(300), Duration.ZERO).size();
                assertTrue(before < requests.size(), "still generating when the TaskManager is killed");
                compose(root, 60, "kill", "-s", "SIGKILL", "taskmanager-2");
                completions.atLeast(requests.size(), Duration.ofSeconds(300), Duration.ofSeconds(3));
                System.out.printf("compose IT: %d answered before taskmanager-2 was killed, all %d after%n", before, requests.size());
                assertEquals("RUNNING", rest.awaitState(job, "RUNNING", Duration.ofSeconds(60)), "recovered on taskmanager-1's slots");
                assertTrue(rest.restarts(job) >= 1, "the job failed over");
                KafkaJobSupport.assertMatchesEngine(want, completions.completions(), "tiny-mistral");
                assertTrue(deadLetters.until(r -> false, Duration.ZERO, Duration.ofMillis(300)).isEmpty(), "no dead letters");
            }
            // the scheduler runs on taskmanager-1 now (the only one left): its inference metrics, as Prometheus sees them
            String metrics = get("http://127.0.0.1:9250/metrics");
            for (String m : List.of("generatedTokensPerSecond", "generatedTokens", "activeSequences", "deadLetters"))
                assertTrue(metrics.contains("_inference_" + m + "{"), "Prometheus exports " + m);
            double generated = metrics.lines().filter(l -> l.startsWith("flink_taskmanager_job_task_operator_inference_generatedTokens{"))
                    .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
            assertTrue(generated > 0, "tokens counted since the restore: " + generated);
        } finally {
            compose(root, 300, "down", "-v");
        }
    }

    private static String awaitRunningJob(FlinkRest rest) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(300).toNanos();
        while (System.nanoTime() < deadline) {
            try {
                for (var j : rest.get("/jobs/overview").path("jobs"))
                    if (j.path("state").asText().equals("RUNNING") && j.path("tasks").path("running").asInt() == j.path("tasks").path("total").asInt())
                        return j.path("jid").asText();
            } catch (IOException notYet) {
                // the JobManager is still starting
            }
            Thread.sleep(500);
        }
        throw new AssertionError("no running job within 300 s");
    }

    private static String get(String url) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), url);
        return r.body();
    }

    /** docker-compose 1.29 ({@code docker-compose}) or Compose v2 ({@code COMPOSE="docker compose"}). */
    private static void compose(Path root, long timeoutSeconds, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(System.getenv().getOrDefault("COMPOSE", "docker-compose").split(" ")));
        cmd.addAll(List.of("-p", PROJECT, "-f", root.resolve("docker-compose.yml").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(Path.of("target/compose-it.log").toFile()));
        pb.environment().putIfAbsent("BASE", "mistral-flink-base:jdk25"); // if compose has to build: the base CI made
        Process p = pb.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", cmd) + ": no end within " + timeoutSeconds + " s (target/compose-it.log)");
        }
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " (target/compose-it.log)");
    }
}
