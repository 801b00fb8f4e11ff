package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.job.Cli;
import io.mistralflink.job.cluster.FlinkClient;
import io.mistralflink.job.cluster.StandaloneCluster;
import io.mistralflink.job.common.Json;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code batch --cluster} as a scheduler runs it: {@code flink run -c io.mistralflink.job.Cli JAR batch --cluster ...}
 * (Flink's own client, attached, from the packaged jar) on a real multi-process cluster (a JobManager
 * and two TaskManagers, each its own JVM on 127.0.0.1: {@link StandaloneCluster}), over a directory of
 * three JSONL files, two stages: the client's exit code and summary line are the run's, the committed
 * part files hold every request once, each as the engine alone answers it; submitted again, the run
 * answers nothing and exits as it did. A bad line makes exit code 3, named on stderr.
 */
@Timeout(600)
class BatchClusterIT {
    static final int REQUESTS = 120;
    @TempDir static Path dir;
    static StandaloneCluster cluster;

    @BeforeAll static void start() {
        long t0 = System.nanoTime();
        Map<String, String> conf = new HashMap<>(StandaloneCluster.defaults(dir, 2));
        conf.put("restart-strategy.fixed-delay.attempts", "3");
        conf.put("restart-strategy.fixed-delay.delay", "1s");
        cluster = StandaloneCluster.start(dir, conf, 2, StandaloneCluster.runtimeClasspath(), Duration.ofSeconds(240));
        System.out.printf("batch cluster IT: JobManager and 2 TaskManagers up in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    @AfterAll static void stop() {
        if (cluster != null) cluster.close();
    }

    @Test void flinkRunBatchAnswersADirectoryOnceWithTheDocumentedExitCodeAndSummary() throws Exception {
        Path jar = StandaloneCluster.jobCode().filter(p -> p.toString().endsWith(".jar"))
                .orElseThrow(() -> new AssertionError("run by failsafe after package: the job's jar is submitted"));
        Path in = Files.createDirectories(dir.resolve("in")), out = dir.resolve("out"), ck = dir.resolve("ck");
        List<ObjectNode> lines = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            ObjectNode j = Json.MAPPER.createObjectNode().put("request_id", "c" + i).put("prompt", "Row " + i + " said").put("max_new_tokens", 2 + i % 3);
            if (i % 4 == 1) j.put("temperature", 0.8f).put("seed", (long) i);
            lines.add(j);
        }
        FileBatchTest.writeJsonl(in.resolve("a.jsonl"), lines.subList(0, 50));
        FileBatchTest.writeJsonl(in.resolve("b.jsonl"), lines.subList(50, 90));
        FileBatchTest.writeJsonl(in.resolve("c.jsonl"), lines.subList(90, REQUESTS));
        Map<String, List<Object>> engine = FileBatchTest.engineAlone(lines);
        List<String> args = List.of("run", "-c", Cli.class.getName(), jar.toString(), "batch", "--cluster", "--model", FileBatchTest.MODEL,
                "--input", in.toString(), "--output", out.toString(), "--checkpoint-dir", ck.toUri().toString(),
                "--checkpoint-interval-ms", "500", "--stages", "2", "--lanes", "2", "--threads", "1", "--quiet");
        FlinkClient client = cluster.client();

        long t0 = System.nanoTime();
        FlinkClient.Result first = client.call(args, 300);
        System.out.printf("batch cluster IT: flink run batch --cluster: exit %d in %.1f s%n", first.exitCode(), (System.nanoTime() - t0) / 1e9);
        assertEquals(0, first.exitCode(), first.output());
        JsonNode summary = summary(first.output());
        assertEquals(REQUESTS, summary.get("requests").asInt(), summary.toString());
        assertEquals(REQUESTS, summary.get("answered").asInt(), summary.toString());
        assertEquals(0, summary.get("refused").asInt(), summary.toString());
        Map<String, JsonNode> got = new HashMap<>();
        for (String l : FileBatchTest.lines(out)) {
            JsonNode j = Json.MAPPER.readTree(l);
            assertNull(got.put(j.get("request_id").asText(), j), "answered once: " + l);
        }
        assertEquals(engine.keySet(), got.keySet());
        got.forEach((id, j) -> assertEquals(engine.get(id), FileBatchTest.completion(j), id));
        assertEquals(summary.get("tokens").asLong(), got.values().stream().mapToLong(j -> j.get("completion_tokens").asLong()).sum());

        List<Path> parts = FileBatchTest.committedParts(out);
        FlinkClient.Result again = client.call(args, 300);
        assertEquals(0, again.exitCode(), again.output());
        assertTrue(summary(again.output()).path("already_done").asBoolean(), again.output());
        assertEquals(parts, FileBatchTest.committedParts(out), "nothing answered again");

        // a bad line: the rest answered, exit code 3, the line named with its file and row
        Files.writeString(in.resolve("d.jsonl"), "{\"request_id\": \"d1\", \"prompt\": \"The jury said\", \"max_new_tokens\": 2}\nnot json\n");
        List<String> withBad = new ArrayList<>(args);
        withBad.set(withBad.indexOf(out.toString()), dir.resolve("out-2").toString());
        FlinkClient.Result bad = client.call(withBad, 300);
        assertEquals(FileBatch.EXIT_REFUSED, bad.exitCode(), bad.output());
        JsonNode s = summary(bad.output());
        assertEquals(REQUESTS + 2, s.get("requests").asInt(), s.toString());
        assertEquals(REQUESTS + 1, s.get("answered").asInt(), s.toString());
        assertEquals(1, s.get("refused").asInt(), s.toString());
        assertTrue(bad.output().contains(in.resolve("d.jsonl") + ": line 2: "), bad.output());
    }

    /** The summary: the client's one JSON line on stdout. */
    private static JsonNode summary(String output) throws Exception {
        for (String l : output.split("\n")) if (l.startsWith("{\"requests\"")) return Json.MAPPER.readTree(l);
        throw new AssertionError("no summary line in:\n" + output);
    }
}
