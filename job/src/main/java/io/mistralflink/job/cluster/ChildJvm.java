package io.mistralflink.job.cluster;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A Java process started from this one, as Flink's and Kafka's scripts start theirs: this JVM's java,
 * the project's JVM flags (the ones this JVM was started with: Vector API, native access, opens),
 * Flink's own default opens, a classpath, a main class; stdout and stderr to a file. The child
 * outlives this JVM unless it is stopped.
 */
public record ChildJvm(List<String> jvmArgs, List<Path> classpath, String mainClass, List<String> args, Map<String, String> env) {

    /** Flink's default {@code env.java.default-opts.all} (its distribution's config.yaml) for JDK 17+. */
    static final List<String> FLINK_OPENS = List.of(
            "--add-exports=java.base/sun.net.util=ALL-UNNAMED", "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
            "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.text=ALL-UNNAMED", "--add-opens=java.base/java.time=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

    private static final List<String> PROJECT_FLAG_PREFIXES = List.of("--add-opens", "--add-exports", "--add-modules",
            "--enable-native-access", "--sun-misc-unsafe-memory-access", "-XX:+IgnoreUnrecognizedVMOptions", "-Dai.djl.offline");

    /** The JVM flags this process was started with that the engine needs (launcher or build). */
    static List<String> projectFlags() {
        List<String> out = new ArrayList<>();
        List<String> in = ManagementFactory.getRuntimeMXBean().getInputArguments();
        for (int i = 0; i < in.size(); i++) {
            String a = in.get(i);
            if (PROJECT_FLAG_PREFIXES.stream().noneMatch(a::startsWith)) continue;
            out.add(a);
            // "--add-modules X" may come as two arguments
            if (!a.contains("=") && a.startsWith("--") && i + 1 < in.size()) out.add(in.get(++i));
        }
        return out;
    }

    /** This JVM's own java executable. */
    static String java() {
        return ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /** The full command line. */
    public List<String> command() {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.addAll(FLINK_OPENS);
        cmd.addAll(projectFlags());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(String.join(File.pathSeparator, classpath.stream().map(Path::toString).toList()));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /** Starts it, stdout and stderr appended to {@code out}. */
    public Process start(Path out) {
        return start(out, null);
    }

    /** Starts it in {@code workDir} (this process's, if null), stdout and stderr appended to {@code out}. */
    public Process start(Path out, Path workDir) {
        try {
            Files.createDirectories(out.toAbsolutePath().getParent());
            ProcessBuilder pb = new ProcessBuilder(command()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()));
            if (workDir != null) pb.directory(Files.createDirectories(workDir).toFile());
            pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            pb.environment().putAll(env);
            return pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + mainClass + ": " + e.getMessage(), e);
        }
    }
}
