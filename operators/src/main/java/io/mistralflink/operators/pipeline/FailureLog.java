package io.mistralflink.operators.pipeline;

import org.apache.flink.api.common.functions.RuntimeContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The requests of every step that failed the job, kept in a directory beside the checkpoints (keyed
 * state rolls back at a restore; this does not). A stage whose step throws writes one file before the
 * task dies: the cause's first line, then the request ids of the step. The scheduler reads them at
 * every (re)start: a request that was in {@link #SUSPECT_AFTER} failing steps runs alone in its lane,
 * and one whose step failed with it alone, at least that often, is the culprit: it is answered with a
 * dead letter instead of failing the job again.
 *
 * <p>The directory is the job parameter {@link #PARAMETER} (a job without it keeps no log).
 */
public final class FailureLog {
    /** The global job parameter naming the directory. */
    public static final String PARAMETER = "mistral-flink.failure-log";
    /** Failing steps a request must have been in before it is suspected (isolated, then dead-lettered). */
    public static final int SUSPECT_AFTER = 2;

    /** What the log says of one request. */
    public record Record(int failures, boolean failedAlone, String cause) {
        /** Isolated: its steps carry it alone, so that a next failure names it. */
        public boolean suspect() { return failures >= SUSPECT_AFTER && !failedAlone; }
        /** Failed the job often enough, last alone in its step: dead-lettered. */
        public boolean culprit() { return failures >= SUSPECT_AFTER && failedAlone; }
        public String reason() { return "failed the job " + failures + " times: " + cause; }
    }

    private final Path dir;

    public FailureLog(Path dir) { this.dir = dir; }

    /** The log the job's parameters name, or null. */
    public static FailureLog of(RuntimeContext ctx) {
        String dir = ctx.getGlobalJobParameters().get(PARAMETER);
        return dir == null ? null : new FailureLog(Path.of(dir));
    }

    /** Notes a failing step's requests (each once; one file, moved into place whole). Never throws: the original failure matters. */
    public void record(List<String> requestIds, Throwable cause) {
        try {
            Files.createDirectories(dir);
            StringBuilder b = new StringBuilder(firstLine(cause)).append('\n');
            for (String id : new java.util.LinkedHashSet<>(requestIds)) b.append(id).append('\n');
            String name = "failure-" + System.currentTimeMillis() + "-" + UUID.randomUUID();
            Path tmp = dir.resolve(name + ".tmp");
            Files.writeString(tmp, b, StandardCharsets.UTF_8);
            try {
                Files.move(tmp, dir.resolve(name + ".txt"), StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir.resolve(name + ".txt"));
            }
        } catch (IOException | RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    /** Every request named by a failing step, with how often and the last cause. */
    public Map<String, Record> read() {
        Map<String, Record> out = new HashMap<>();
        if (!Files.isDirectory(dir)) return out;
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".txt")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the failure log " + dir + ": " + e.getMessage(), e);
        }
        for (Path f : files) {
            List<String> lines;
            try {
                lines = new ArrayList<>(Files.readAllLines(f, StandardCharsets.UTF_8));
            } catch (IOException e) {
                continue; // being written or removed: the next restart reads it
            }
            if (lines.isEmpty()) continue;
            String cause = lines.removeFirst();
            boolean alone = lines.size() == 1;
            for (String id : lines) {
                Record r = out.get(id);
                out.put(id, new Record(r == null ? 1 : r.failures() + 1, alone || (r != null && r.failedAlone()), cause));
            }
        }
        return out;
    }

    static String firstLine(Throwable t) {
        String s = t.toString();
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
