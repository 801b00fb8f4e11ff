package io.mistralflink.job;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A JVM of its own on the test classpath (the job, or a broker), started as the cluster command starts
 * its processes ({@link io.mistralflink.job.cluster.ChildJvm}), its stdout and stderr in one log file,
 * ended by SIGKILL ({@link Process#destroyForcibly()} on Linux) as a crash would end it.
 */
public final class ChildJvm implements AutoCloseable {
    public final Process process;
    final Path log;

    private ChildJvm(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code mainClass args} in {@code workDir}, output appended to {@code log}. */
    public static ChildJvm start(Path workDir, Path log, List<String> jvmArgs, String mainClass, List<String> args) throws IOException {
        List<Path> classpath = Arrays.stream(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"))
                .split(File.pathSeparator)).map(Path::of).toList();
        Process p = new io.mistralflink.job.cluster.ChildJvm(jvmArgs, classpath, mainClass, args, Map.of()).start(log, workDir);
        return new ChildJvm(p, log);
    }
    public String output() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** SIGKILL, and wait until the process is gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(60, TimeUnit.SECONDS)) throw new IllegalStateException("pid " + process.pid() + " survived SIGKILL");
    }

    @Override public void close() throws InterruptedException {
        if (process.isAlive()) kill();
    }
}
