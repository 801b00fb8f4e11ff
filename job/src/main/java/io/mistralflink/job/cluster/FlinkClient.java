package io.mistralflink.job.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Flink's command-line client ({@code flink run|stop|cancel|list}: {@code CliFrontend}) in its own JVM
 * against a cluster's configuration directory, as users run {@code bin/flink}.
 */
public final class FlinkClient {
    public static final String MAIN = "org.apache.flink.client.cli.CliFrontend";
    private static final Pattern SUBMITTED = Pattern.compile("Job has been submitted with JobID ([0-9a-f]{32})");
    private static final Pattern SAVEPOINT = Pattern.compile("Savepoint completed\\. Path: (\\S+)");
    private static final AtomicInteger CALLS = new AtomicInteger();

    private final Path confDir;
    private final List<Path> classpath;
    private final Path logDir;

    public FlinkClient(Path confDir, List<Path> classpath, Path logDir) {
        this.confDir = confDir;
        this.classpath = classpath;
        this.logDir = logDir;
    }

    /** What a call printed and how it ended. */
    public record Result(int exitCode, String output) {}

    /** Runs {@code flink ARGS...}; waits up to {@code timeoutSeconds}. */
    public Result call(List<String> args, long timeoutSeconds) {
        String name = "client-" + CALLS.incrementAndGet() + "-" + args.getFirst();
        Path out = logDir.resolve(name + ".out");
        List<String> jvm = List.of("-Dlog.file=" + logDir.resolve(name + ".log"),
                "-Dlog4j.configurationFile=" + confDir.resolve("log4j.properties").toUri());
        Process p = new ChildJvm(jvm, classpath, MAIN, args, Map.of("FLINK_CONF_DIR", confDir.toString())).start(out);
        try {
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("flink " + String.join(" ", args) + ": no answer within " + timeoutSeconds + " s (" + out + ")");
            }
            return new Result(p.exitValue(), Files.readString(out));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + out + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code flink run -d [flinkOptions] -c io.mistralflink.job.Cli JAR run --cluster ARGS}: returns the job id.
     * {@code flinkOptions} are the client's own (e.g. {@code -Dstate.backend.type=rocksdb}).
     */
    public String submit(Path jar, List<String> flinkOptions, List<String> jobArgs) {
        List<String> args = new ArrayList<>(List.of("run", "-d"));
        args.addAll(flinkOptions);
        args.addAll(List.of("-c", "io.mistralflink.job.Cli", jar.toString(), "run", "--cluster"));
        args.addAll(jobArgs);
        Result r = call(args, 180);
        Matcher m = SUBMITTED.matcher(r.output());
        if (r.exitCode() != 0 || !m.find()) throw new IllegalStateException("flink run failed (" + r.exitCode() + "):\n" + tail(r.output()));
        return m.group(1);
    }

    /** {@code flink stop --savepointPath DIR JOB}: returns the savepoint's path. */
    public String stopWithSavepoint(String jobId, Path dir) {
        Result r = call(List.of("stop", "--type", "canonical", "--savepointPath", dir.toUri().toString(), jobId), 180);
        Matcher m = SAVEPOINT.matcher(r.output());
        if (r.exitCode() != 0 || !m.find()) throw new IllegalStateException("flink stop failed (" + r.exitCode() + "):\n" + tail(r.output()));
        return m.group(1);
    }

    /** {@code flink cancel JOB}. */
    public void cancel(String jobId) {
        Result r = call(List.of("cancel", jobId), 120);
        if (r.exitCode() != 0) throw new IllegalStateException("flink cancel failed (" + r.exitCode() + "):\n" + tail(r.output()));
    }

    private static String tail(String s) {
        String[] lines = s.split("\n");
        return String.join("\n", java.util.Arrays.copyOfRange(lines, Math.max(0, lines.length - 30), lines.length));
    }
}
