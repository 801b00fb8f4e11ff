package io.mistralflink.job;

import io.mistralflink.job.kafka.Produce;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code run} as a user runs it, in a JVM of its own, on its embedded broker: every socket the
 * process listens on (read from /proc: its socket inodes in the kernel's TCP tables) is bound to
 * loopback; killed with SIGKILL while answering, the next {@code run} reopens the broker's data on
 * the same port and resumes from the retained checkpoint (each request answered once, as the engine
 * answers it; the first run's checkpoint directory is pruned once the second has checkpointed), and
 * nothing of the run is left in the system's temporary directory.
 */
@Timeout(900)
class RunCommandTest {
    private static final Pattern BROKER = Pattern.compile("embedded broker listening on (\\S+:\\d+)");

    @Test void listensOnLoopbackOnlyAndItsEmbeddedBrokerSurvivesAKill(@TempDir Path dir) throws Exception {
        Path tmp = Files.createDirectories(dir.resolve("system-tmp"));
        List<String> args = List.of("run", "--model", KafkaJobSupport.model().toString(), "--checkpoint-dir", dir.resolve("checkpoints").toString(),
                "--checkpoint-interval-ms", "300", "--lanes", "2", "--sequences-per-lane", "4", "--threads", "1");
        List<String> jvm = List.of("-Xmx1g", "-Djava.io.tmpdir=" + tmp);
        List<GenerationRequest> requests = new ArrayList<>();
        for (GenerationRequest r : KafkaJobSupport.requests("run-", 8, 20, 200, 41)) { r.setIgnoreEos(true); r.setStop(List.of()); requests.add(r); }
        Map<String, Sequence> want = KafkaJobSupport.oracle(KafkaJobSupport.model(), requests);

        String bootstrap;
        try (ChildJvm first = ChildJvm.start(dir, dir.resolve("run-1.log"), jvm, Cli.class.getName(), args)) {
            bootstrap = awaitRunning(first);
            List<InetSocketAddress> listening = listening(first.process.pid());
            System.out.println("run listens on " + listening);
            assertTrue(listening.size() >= 4, "REST, BLOB, the broker and its controller at least: " + listening);
            for (InetSocketAddress a : listening) assertTrue(a.getAddress().isLoopbackAddress(), "bound to " + a + ": " + listening);
            assertTrue(bootstrap.startsWith("127.0.0.1:"), bootstrap);

            Produce.all(bootstrap, "prompts", requests);
            try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(bootstrap, "completions")) {
                completions.atLeast(1, Duration.ofSeconds(180), Duration.ZERO);
                Thread.sleep(700); // a checkpoint or two more
                first.kill();
                assertTrue(completions.until(r -> false, Duration.ZERO, Duration.ofMillis(300)).size() < requests.size(), "killed before the end");
            }
        }
        try (ChildJvm second = ChildJvm.start(dir, dir.resolve("run-2.log"), jvm, Cli.class.getName(), args)) {
            assertEquals(bootstrap, awaitRunning(second), "the same broker, on the same port");
            assertTrue(second.output().contains("resuming from " + dir.resolve("checkpoints").resolve("run")), second.output());
            try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(bootstrap, "completions")) {
                completions.atLeast(requests.size(), Duration.ofSeconds(240), Duration.ofSeconds(2));
                List<Completion> got = completions.completions();
                System.out.printf("run test: requests sent %d, answered %d, duplicated %d%n", requests.size(),
                        new HashSet<>(got.stream().map(Completion::getRequestId).toList()).size(),
                        got.size() - new HashSet<>(got.stream().map(Completion::getRequestId).toList()).size());
                KafkaJobSupport.assertMatchesEngine(want, got, "tiny-mistral");
            }
            try (Stream<Path> jobs = Files.list(dir.resolve("checkpoints").resolve("run"))) {
                assertEquals(1, jobs.filter(p -> p.getFileName().toString().matches("[0-9a-f]{32}")).count(),
                        "the first run's checkpoints pruned once the second run's first checkpoint completed");
            }
            second.kill();
        }
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("hsperfdata")).toList(),
                    "left in the temporary directory after kill -9");
        }
    }

    /** Waits for the job's "running" line; returns the embedded broker's address. */
    static String awaitRunning(ChildJvm run) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (!run.output().contains("running on the local MiniCluster")) {
            assertTrue(run.process.isAlive(), "run ended: " + run.output());
            assertTrue(System.nanoTime() < deadline, "run did not start: " + run.output());
            Thread.sleep(100);
        }
        Matcher m = BROKER.matcher(run.output());
        assertTrue(m.find(), run.output());
        return m.group(1);
    }

    /** The TCP sockets process {@code pid} listens on: its socket inodes, looked up in /proc/PID/net/tcp and tcp6. */
    static List<InetSocketAddress> listening(long pid) throws IOException {
        Set<String> inodes = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) inodes.add(target.substring(8, target.length() - 1));
                } catch (IOException closedMeanwhile) { }
            }
        }
        List<InetSocketAddress> out = new ArrayList<>();
        for (String table : List.of("tcp", "tcp6")) {
            List<String> lines = Files.readAllLines(Path.of("/proc", Long.toString(pid), "net", table));
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (!f[3].equals("0A") || !inodes.contains(f[9])) continue; // 0A: LISTEN
                String[] local = f[1].split(":");
                out.add(new InetSocketAddress(InetAddress.getByAddress(address(local[0])), Integer.parseInt(local[1], 16)));
            }
        }
        return out;
    }

    /** /proc's hex address: 32-bit words, each in the host's (little-endian) byte order. */
    private static byte[] address(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int w = 0; w < hex.length() / 8; w++) {
            long v = Long.parseLong(hex.substring(8 * w, 8 * w + 8), 16);
            for (int i = 0; i < 4; i++) b[4 * w + i] = (byte) (v >>> (8 * i));
        }
        return b;
    }
}
