package io.mistralflink.job.cluster;

import io.mistralflink.job.assembly.RetainedCheckpoints;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessSpec;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;
import org.apache.flink.runtime.jobmanager.JobManagerProcessSpec;
import org.apache.flink.runtime.jobmanager.JobManagerProcessUtils;
import org.apache.flink.runtime.util.config.memory.ProcessMemoryUtils;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A standalone Flink session cluster from the jars on this classpath (no Flink distribution): a
 * JobManager ({@code StandaloneSessionClusterEntrypoint}) and TaskManagers ({@code TaskManagerRunner}),
 * each its own JVM with the memory flags Flink's scripts compute ({@code BashJavaUtils}' logic),
 * everything bound to 127.0.0.1. Jobs are submitted as to any Flink cluster ({@code flink run},
 * i.e. {@link FlinkClient}), with {@link #confDir()} as {@code FLINK_CONF_DIR}.
 *
 * <p>Layout under the directory: {@code conf/config.yaml}, {@code log/}, {@code checkpoints/}
 * (durable, retained: {@link RetainedCheckpoints}), {@code savepoints/}, and {@code pids} (one line
 * per process, "name pid"), which {@link #down} reads.
 */
public final class StandaloneCluster implements AutoCloseable {
    public static final String ENTRYPOINT = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint";
    public static final String TASK_MANAGER = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";
    /** The checkpoints of jobs on this cluster go to {@code checkpoints/<this>/<job id>/chk-N}. */
    public static final String CHECKPOINTS_NAME = "mistral-flink";

    private final Path dir;
    private final List<Path> classpath;
    private final Configuration conf;
    private final FlinkRest rest;
    private final Process jobManager;
    private final List<Process> taskManagers = new ArrayList<>();

    private StandaloneCluster(Path dir, List<Path> classpath, Configuration conf, Process jobManager) {
        this.dir = dir;
        this.classpath = classpath;
        this.conf = conf;
        this.jobManager = jobManager;
        this.rest = new FlinkRest("http://127.0.0.1:" + conf.toMap().get("rest.port"));
    }

    /**
     * Settings of a cluster under {@code dir}: loopback only, {@code slots} per TaskManager spread
     * evenly, small processes (tiny models on a laptop: override the memory for real ones), fast
     * detection of a lost TaskManager, fixed-delay restarts, retained checkpoints.
     */
    public static Map<String, String> defaults(Path dir, int slots) {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("jobmanager.rpc.address", "127.0.0.1");
        c.put("jobmanager.rpc.port", Integer.toString(freePort()));
        c.put("jobmanager.bind-host", "127.0.0.1");
        c.put("taskmanager.bind-host", "127.0.0.1");
        c.put("taskmanager.host", "127.0.0.1");
        c.put("rest.address", "127.0.0.1");
        c.put("rest.bind-address", "127.0.0.1");
        c.put("rest.port", Integer.toString(freePort()));
        c.put("taskmanager.numberOfTaskSlots", Integer.toString(slots));
        c.put("taskmanager.load-balance.mode", "SLOTS");
        c.put("jobmanager.memory.process.size", "768m");
        c.put("taskmanager.memory.process.size", "1280m");
        c.put("taskmanager.memory.managed.fraction", "0.1");
        // the engine's caches and memory-mapped weights live outside the heap
        c.put("taskmanager.memory.task.off-heap.size", "256m");
        // as LocalEnvironment.debloatBuffers: a barrier must not queue behind a backlog of prompts in full-size buffers
        c.put(TaskManagerOptions.BUFFER_DEBLOAT_ENABLED.key(), "true");
        c.put("heartbeat.interval", "1000");
        c.put("heartbeat.timeout", "6000");
        c.put("restart-strategy.type", "fixed-delay");
        c.put("restart-strategy.fixed-delay.attempts", "2147483647");
        c.put("restart-strategy.fixed-delay.delay", "2s");
        c.put(StateBackendOptions.STATE_BACKEND.key(), "hashmap");
        c.put(CheckpointingOptions.SAVEPOINT_DIRECTORY.key(), dir.resolve("savepoints").toUri().toString());
        Configuration retained = new RetainedCheckpoints(dir.resolve("checkpoints"), CHECKPOINTS_NAME).configure(new Configuration());
        c.putAll(retained.toMap());
        return c;
    }

    /** Writes the configuration, starts the JobManager and {@code taskManagers} TaskManagers, waits until all registered. */
    public static StandaloneCluster start(Path dir, Map<String, String> settings, int taskManagers, List<Path> classpath, Duration timeout) {
        dir = dir.toAbsolutePath().normalize();
        Configuration conf = Configuration.fromMap(settings);
        try {
            Files.createDirectories(dir.resolve("conf"));
            Files.createDirectories(dir.resolve("log"));
            StringBuilder yaml = new StringBuilder("# written by mistral-flink cluster up\n");
            settings.forEach((k, v) -> yaml.append(k).append(": '").append(v.replace("'", "''")).append("'\n"));
            Files.writeString(dir.resolve("conf/config.yaml"), yaml);
            Files.writeString(dir.resolve("conf/log4j.properties"), LOG4J);
            Files.deleteIfExists(dir.resolve("pids"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the cluster's configuration under " + dir + ": " + e.getMessage(), e);
        }
        JobManagerProcessSpec jm = JobManagerProcessUtils.processSpecFromConfig(conf);
        List<String> jvm = new ArrayList<>(words(JobManagerProcessUtils.generateJvmParametersStr(jm, conf)));
        List<String> args = new ArrayList<>(List.of("--configDir", dir.resolve("conf").toString()));
        args.addAll(words(JobManagerProcessUtils.generateDynamicConfigsStr(jm)));
        Process p = launch(dir, "jobmanager", jvm, classpath, ENTRYPOINT, args);
        StandaloneCluster cluster = new StandaloneCluster(dir, classpath, conf, p);
        try {
            cluster.await("the JobManager's REST endpoint", () -> cluster.rest.taskManagers() >= 0, timeout);
            for (int i = 0; i < taskManagers; i++) cluster.startTaskManager();
            cluster.awaitTaskManagers(taskManagers, timeout);
            return cluster;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    /** Starts one more TaskManager (resource id {@code taskmanager-N}); returns its index. */
    public synchronized int startTaskManager() {
        TaskExecutorProcessSpec spec = TaskExecutorProcessUtils.processSpecFromConfig(conf);
        int i = taskManagers.size();
        List<String> args = new ArrayList<>(List.of("--configDir", dir.resolve("conf").toString()));
        args.addAll(words(TaskExecutorProcessUtils.generateDynamicConfigsStr(spec)));
        args.addAll(List.of("-D", "taskmanager.resource-id=taskmanager-" + i));
        taskManagers.add(launch(dir, "taskmanager-" + i, words(ProcessMemoryUtils.generateJvmParametersStr(spec)), classpath, TASK_MANAGER, args));
        return i;
    }

    /** Waits until {@code n} TaskManagers are registered. */
    public void awaitTaskManagers(int n, Duration timeout) {
        await(n + " TaskManager(s)", () -> rest.taskManagers() == n, timeout);
    }

    /** SIGKILL, as a machine that dies; returns once the process is gone. */
    public void killTaskManager(int i) {
        Process p = taskManagers.get(i);
        p.destroyForcibly();
        try {
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public Process taskManager(int i) { return taskManagers.get(i); }

    public int taskManagerCount() { return taskManagers.size(); }

    public FlinkRest rest() { return rest; }

    public String restAddress() { return rest.address(); }

    public Path dir() { return dir; }

    public Path confDir() { return dir.resolve("conf"); }

    public Path savepointDir() { return dir.resolve("savepoints"); }

    public List<Path> classpath() { return classpath; }

    /** The client as users run it ({@code flink ...}) against this cluster. */
    public FlinkClient client() { return new FlinkClient(confDir(), classpath, dir.resolve("log")); }

    /** Stops every process of this cluster (SIGTERM, then SIGKILL after 15 s). */
    @Override public void close() {
        List<ProcessHandle> all = new ArrayList<>();
        taskManagers.forEach(p -> all.add(p.toHandle()));
        all.add(jobManager.toHandle());
        stop(all);
    }

    /** {@code cluster down}: stops the processes listed in {@code dir/pids}; returns how many were running. */
    public static int down(Path dir) {
        Path pids = dir.resolve("pids");
        if (!Files.isRegularFile(pids)) throw new IllegalStateException("no cluster under " + dir.toAbsolutePath() + " (no pids file)");
        List<ProcessHandle> running = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(pids)) {
                String[] f = line.trim().split("\\s+");
                if (f.length == 2) ProcessHandle.of(Long.parseLong(f[1])).filter(ProcessHandle::isAlive).ifPresent(running::add);
            }
            stop(running);
            Files.delete(pids);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + pids + ": " + e.getMessage(), e);
        }
        return running.size();
    }

    static void stop(List<ProcessHandle> processes) {
        processes.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        for (ProcessHandle p : processes) {
            try {
                p.onExit().get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (Exception e) {
                p.destroyForcibly();
            }
        }
    }

    /** Starts a process of the cluster, logging to {@code log/NAME.log} (and {@code .out}), listed in {@code pids}. */
    static Process launch(Path dir, String name, List<String> jvm, List<Path> classpath, String main, List<String> args) {
        List<String> flags = new ArrayList<>(jvm);
        flags.add("-Dlog.file=" + dir.resolve("log/" + name + ".log"));
        flags.add("-Dlog4j.configurationFile=" + dir.resolve("conf/log4j.properties").toUri());
        Process p = new ChildJvm(flags, classpath, main, args, Map.of()).start(dir.resolve("log/" + name + ".out"));
        try {
            Files.writeString(dir.resolve("pids"), name + " " + p.pid() + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            p.destroyForcibly();
            throw new UncheckedIOException("cannot record the pid of " + name + ": " + e.getMessage(), e);
        }
        return p;
    }

    private void await(String what, java.util.function.BooleanSupplier ready, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!ready.getAsBoolean()) {
            if (!jobManager.isAlive()) throw new IllegalStateException("the JobManager exited (" + jobManager.exitValue() + "): " + tail("jobmanager"));
            for (int i = 0; i < taskManagers.size(); i++)
                if (!taskManagers.get(i).isAlive() && taskManagers.get(i).exitValue() != 137)
                    throw new IllegalStateException("taskmanager-" + i + " exited (" + taskManagers.get(i).exitValue() + "): " + tail("taskmanager-" + i));
            if (System.nanoTime() > deadline) throw new IllegalStateException("the cluster did not start within " + timeout.toSeconds() + " s: no " + what
                    + " (logs in " + dir.resolve("log") + ")");
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while starting the cluster");
            }
        }
    }

    /** The last lines of a process's output, for an error message. */
    String tail(String name) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("log/" + name + ".out"));
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no output in " + dir.resolve("log/" + name + ".out") + ")";
        }
    }

    private static List<String> words(String s) {
        return Arrays.stream(s.trim().split("\\s+")).filter(w -> !w.isEmpty()).toList();
    }

    /** A port free on 127.0.0.1 now. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on 127.0.0.1", e);
        }
    }

    /**
     * The classpath of this JVM (the launcher's, or the build's test classpath) without the job's own
     * classes: the cluster is Flink and the libraries; the job comes in the jar submitted to it.
     */
    public static List<Path> runtimeClasspath() {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path own = jobCode().orElse(null);
        List<Path> out = new ArrayList<>();
        for (String e : cp.split(File.pathSeparator)) {
            if (e.isBlank()) continue;
            Path p = Path.of(e).toAbsolutePath().normalize();
            if (p.equals(own) || p.endsWith("test-classes") || p.getFileName().toString().startsWith("surefire")) continue;
            out.add(p);
        }
        return out;
    }

    /** Where this job's classes come from: its jar (the launcher, the build after package) or a classes directory. */
    public static Optional<Path> jobCode() {
        try {
            return Optional.of(Path.of(StandaloneCluster.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath().normalize());
        } catch (Exception e) {
            return Optional.empty();
        }
    }

    static final String LOG4J = """
            rootLogger.level = INFO
            rootLogger.appenderRef.file.ref = file
            appender.file.type = File
            appender.file.name = file
            appender.file.fileName = ${sys:log.file}
            appender.file.layout.type = PatternLayout
            appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} [%t] - %m%n
            logger.djl.name = ai.djl
            logger.djl.level = ERROR
            logger.kafka.name = org.apache.kafka
            logger.kafka.level = WARN
            """;
}
