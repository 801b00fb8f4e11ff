package io.mistralflink.job.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The few calls of Flink's REST API that starting, watching and testing a cluster need. */
public final class FlinkRest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String address;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** {@code address}: http://127.0.0.1:PORT */
    public FlinkRest(String address) { this.address = address; }

    public String address() { return address; }

    /** GET, the body as JSON; an IOException when the server does not answer 200. */
    public JsonNode get(String path) throws IOException {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(address + path)).timeout(Duration.ofSeconds(10)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) throw new IOException("GET " + path + ": HTTP " + r.statusCode() + " " + r.body());
            return JSON.readTree(r.body());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Registered TaskManagers, or -1 while the REST endpoint does not answer. */
    public int taskManagers() {
        try {
            return get("/taskmanagers").path("taskmanagers").size();
        } catch (IOException e) {
            return -1;
        }
    }

    /** The job's state (RUNNING, RESTARTING, FINISHED, ...). */
    public String jobState(String jobId) throws IOException {
        return get("/jobs/" + jobId).path("state").asText();
    }

    /** Waits until the job is in {@code state} (a failover may still be settling); returns the state it ended in. */
    public String awaitState(String jobId, String state, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String s = jobState(jobId);
        while (!s.equals(state) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            s = jobState(jobId);
        }
        return s;
    }

    /** How many times the job has restarted (its failovers). */
    public long restarts(String jobId) throws IOException {
        JsonNode n = get("/jobs/" + jobId + "/exceptions").path("exceptionHistory").path("entries");
        return n.size();
    }

    /** Per vertex of the job (by name), the endpoints ("host:port" and TaskManager id) of its subtasks. */
    public List<Placement> placements(String jobId) throws IOException {
        List<Placement> out = new ArrayList<>();
        for (JsonNode v : get("/jobs/" + jobId).path("vertices")) {
            for (JsonNode tm : get("/jobs/" + jobId + "/vertices/" + v.path("id").asText() + "/taskmanagers").path("taskmanagers"))
                out.add(new Placement(v.path("name").asText(), tm.path("taskmanager-id").asText(), tm.path("status").asText()));
        }
        return out;
    }

    public record Placement(String vertex, String taskManager, String status) {}

    /** Per subtask of each vertex of the job (by name), the TaskManager its current attempt runs on. */
    public List<Subtask> subtasks(String jobId) throws IOException {
        List<Subtask> out = new ArrayList<>();
        for (JsonNode v : get("/jobs/" + jobId).path("vertices")) {
            for (JsonNode t : get("/jobs/" + jobId + "/vertices/" + v.path("id").asText()).path("subtasks"))
                out.add(new Subtask(v.path("name").asText(), t.path("subtask").asInt(), t.path("taskmanager-id").asText(), t.path("status").asText()));
        }
        return out;
    }

    public record Subtask(String vertex, int index, String taskManager, String status) {}
}
