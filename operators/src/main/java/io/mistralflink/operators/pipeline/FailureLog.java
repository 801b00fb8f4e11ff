package io.mistralflink.operators.pipeline;

import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.runtime.execution.CancelTaskException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Set;
import java.util.WeakHashMap;
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
 * <p>Entries are dropped once their request's answer or dead letter is committed ({@link #forget}),
 * so that a later request reusing the id is served; beyond {@link #MAX_FILES} failing steps the
 * oldest are dropped, so the log stays bounded however long a job fails.
 *
 * <p>The directory is the job parameter {@link #PARAMETER} (a job without it keeps no log).
 */
public final class FailureLog {
    /** The global job parameter naming the directory. */
    public static final String PARAMETER = "mistral-flink.failure-log";
    /** Failing steps a request must have been in before it is suspected (isolated, then dead-lettered). */
    public static final int SUSPECT_AFTER = 2;
    /** Failing steps kept; the oldest go first. */
    public static final int MAX_FILES = 1000;

    /** What the log says of one request. */
    public record Record(int failures, boolean failedAlone, String cause) {
        /** Isolated: its steps carry it alone, so that a next failure names it. */
        public boolean suspect() { return failures >= SUSPECT_AFTER && !failedAlone; }
        /** Failed the job often enough, last alone in its step: dead-lettered. */
        public boolean culprit() { return failures >= SUSPECT_AFTER && failedAlone; }
        public String reason() { return "failed the job " + failures + " times: " + cause; }
    }

    private final Path dir;
    private final int maxFiles;

    public FailureLog(Path dir) { this(dir, MAX_FILES); }

    /** A log keeping at most {@code maxFiles} failing steps. */
    FailureLog(Path dir, int maxFiles) {
        this.dir = dir;
        this.maxFiles = maxFiles;
    }

    /** The log the job's parameters name, or null. */
    public static FailureLog of(RuntimeContext ctx) {
        String dir = ctx.getGlobalJobParameters().get(PARAMETER);
        return dir == null ? null : new FailureLog(Path.of(dir));
    }

    /**
     * Failures already noted, by identity: a chained operator's failure passes up through the operators
     * before it in the chain (a stage's through the scheduler that sent its step), and only the one
     * where it happened names the requests.
     */
    private static final Set<Throwable> NOTED = Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));

    /**
     * Notes a failing step's requests (each once; one file, moved into place whole), unless the failure
     * was noted where it happened, or is the task's cancellation (an interrupt). Never throws: the
     * original failure matters.
     */
    public void record(List<String> requestIds, Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause())
            if (NOTED.contains(t) || t instanceof InterruptedException || t instanceof CancelTaskException) return; // a task being cancelled is no evidence
        NOTED.add(cause);
        try {
            Files.createDirectories(dir);
            StringBuilder b = new StringBuilder(firstLine(cause)).append('\n');
            for (String id : new java.util.LinkedHashSet<>(requestIds)) b.append(id).append('\n');
            write(dir.resolve("failure-" + System.currentTimeMillis() + "-" + UUID.randomUUID() + ".txt"), b.toString());
            locked(() -> {
                List<Path> files = files();
                for (Path old : files.subList(0, Math.max(0, files.size() - maxFiles))) Files.deleteIfExists(old);
            });
        } catch (IOException | RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    /**
     * Drops {@code requestIds} from the log (their answers are committed): a step's file keeps the
     * ids it still names, and goes when it names none. A step carries the requests of one scheduler,
     * but after a rescale the ids of one file belong to several, which may forget theirs at once, in
     * one JVM or in several: each rewrite reads and writes under the log's lock ({@link #locked}), so
     * that none puts back what another dropped.
     */
    public void forget(Set<String> requestIds) throws IOException {
        if (requestIds.isEmpty() || !Files.isDirectory(dir)) return;
        locked(() -> {
            for (Path f : files()) forget(f, requestIds);
        });
    }

    /** Drops {@code requestIds} from one step's file. */
    private static void forget(Path f, Set<String> requestIds) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        } catch (java.nio.file.NoSuchFileException e) {
            return;
        }
        if (lines.isEmpty()) return;
        List<String> ids = lines.subList(1, lines.size());
        if (ids.stream().noneMatch(requestIds::contains)) return;
        List<String> kept = ids.stream().filter(id -> !requestIds.contains(id)).toList();
        if (kept.isEmpty()) Files.deleteIfExists(f);
        else write(f, lines.getFirst() + "\n" + String.join("\n", kept) + "\n");
    }

    private interface IoAction { void run() throws IOException; }

    /** In-JVM holders of a log's lock, by directory: a JVM holds a file lock once, so its threads take turns first. */
    private static final Map<Path, Object> MONITORS = new java.util.concurrent.ConcurrentHashMap<>();

    /** Runs {@code action} holding the log's lock: a monitor among this JVM's threads, a lock on {@code .lock} among JVMs. */
    private void locked(IoAction action) throws IOException {
        synchronized (MONITORS.computeIfAbsent(dir.toAbsolutePath().normalize(), d -> new Object())) {
            try (FileChannel ch = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = ch.lock()) {
                action.run();
            }
        }
    }

    /** Writes {@code text} to {@code file} whole: a reader sees the old content or the new, never a part. */
    private static void write(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + "." + UUID.randomUUID() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The log's files, oldest first. */
    private List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".txt")).sorted().toList();
        }
    }

    /** Every request named by a failing step, with how often and the last cause. */
    public Map<String, Record> read() {
        Map<String, Record> out = new HashMap<>();
        if (!Files.isDirectory(dir)) return out;
        List<Path> files;
        try {
            files = files();
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
