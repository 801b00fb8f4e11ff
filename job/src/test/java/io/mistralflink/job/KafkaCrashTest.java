package io.mistralflink.job;

import io.mistralflink.job.assembly.RetainedCheckpoints;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.job.kafka.Produce;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The promise of {@code run} after a crash: the job ({@code Cli run} in a JVM of its own) is killed
 * with SIGKILL twice in a row, mid-prefill and mid-decode, each time once a checkpoint of that run
 * has completed in its checkpoint directory after every request was read (the source's offsets,
 * committed at checkpoints, at the end of the topic) while prompts were being prefilled, or sequences
 * decoded; the broker runs in another JVM ({@code kafka.Kafka}) and outlives it.
 * Each restart is a plain {@code run} with the same arguments, which resumes by itself from the
 * latest retained checkpoint. A read_committed reader then sees every request answered exactly once,
 * with the text the engine alone gives (that of an undisturbed run).
 */
@Timeout(900)
class KafkaCrashTest {
    @TempDir static Path root;
    private static ChildJvm broker;
    private static String bootstrap;

    @BeforeAll static void startBroker() throws Exception {
        Path dir = root.resolve("kafka");
        Properties config = EmbeddedKafka.prepare(dir, Map.of(), "127.0.0.1");
        bootstrap = config.getProperty("advertised.listeners").substring("PLAINTEXT://".length());
        broker = ChildJvm.start(root, root.resolve("broker.log"), List.of("-Xmx512m"), "kafka.Kafka",
                List.of(dir.resolve(EmbeddedKafka.SERVER_PROPERTIES).toString()));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
        while (true) {
            try (Admin admin = admin()) {
                admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                return;
            } catch (Exception notYet) {
                assertTrue(broker.process.isAlive(), "the broker died: " + broker.output());
                if (System.nanoTime() > deadline) throw new AssertionError("the broker did not start: " + broker.output(), notYet);
                Thread.sleep(200);
            }
        }
    }

    @AfterAll static void stopBroker() throws Exception {
        if (broker != null) broker.close();
    }

    private static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        return Admin.create(p);
    }

    /** Prompts of about 600 tokens, 4-8 new tokens each, one lane of 8 in 8-token steps: a request spends most of its life in a chunked prefill. */
    @Test void killedTwiceMidPrefill() throws Exception {
        List<GenerationRequest> base = KafkaJobSupport.requests("p", 80, 4, 8, 31);
        // every 5th Brown paragraph is the long one: two in each prompt
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            GenerationRequest r = GenerationRequest.newBuilder(base.get(10 * i)).setRequestId("prefill-" + i).build();
            StringBuilder prompt = new StringBuilder();
            for (int j = 10 * i; j < 10 * i + 10; j++) prompt.append(base.get(j).getPrompt()).append(' ');
            r.setPrompt(prompt.toString().strip());
            requests.add(r);
        }
        // decodes go first in a step, then prefill chunks (StepPlanner): the 8 prompts are prefilled one after
        // another, each answered a few steps after its prefill; with two or more unanswered at the kill, one
        // was in its prefill
        crash("prefill", requests, List.of("--lanes", "1", "--sequences-per-lane", "8", "--max-batch-tokens", "8"),
                answered -> true, answered -> true, 2);
    }

    /** Short prompts, 100-1,500 new tokens each (EOS ignored), two lanes of 4: killed while sequences decode, some already answered. */
    @Test void killedTwiceMidDecode() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>();
        for (GenerationRequest r : KafkaJobSupport.requests("decode-", 8, 100, 1500, 37)) {
            r.setIgnoreEos(true);
            r.setStop(List.of());
            requests.add(r);
        }
        crash("decode", requests, List.of("--lanes", "2", "--sequences-per-lane", "4", "--max-batch-tokens", "64"),
                // first kill: some answered, the others decoding; after it, the rest are re-fed (short prompts) and decode
                answered -> answered >= 1, answered -> true, 1);
    }

    /**
     * Produces the requests, then: run, killed once a checkpoint completed while {@code firstKill}
     * holds for the answers visible; run again (resuming), killed likewise under {@code secondKill};
     * run again until every request is answered. At each kill at least {@code unansweredAtKill}
     * requests are unanswered.
     */
    private void crash(String name, List<GenerationRequest> requests, List<String> options, IntPredicate firstKill, IntPredicate secondKill,
                       int unansweredAtKill) throws Exception {
        String prompts = name + "-prompts", completionsTopic = name + "-completions", deadLetters = name + "-dead-letters";
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(prompts, 2, (short) 1), new NewTopic(completionsTopic, 2, (short) 1),
                    new NewTopic(deadLetters, 2, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        Map<String, Sequence> want = KafkaJobSupport.oracle(KafkaJobSupport.model(), requests);
        Produce.all(bootstrap, prompts, requests);
        Path checkpointDir = root.resolve(name + "-checkpoints");
        RetainedCheckpoints checkpoints = new RetainedCheckpoints(checkpointDir, "run");
        List<String> args = new ArrayList<>(List.of("run", "--model", KafkaJobSupport.model().toString(), "--bootstrap-servers", bootstrap,
                "--prompts-topic", prompts, "--completions-topic", completionsTopic, "--dead-letter-topic", deadLetters,
                "--transactional-id-prefix", name, "--checkpoint-dir", checkpointDir.toString(), "--checkpoint-interval-ms", "300",
                "--threads", "1"));
        args.addAll(options);
        int n = requests.size();
        List<String> killedAt = new ArrayList<>();
        try (KafkaJobSupport.Reader completions = new KafkaJobSupport.Reader(bootstrap, completionsTopic);
             KafkaJobSupport.Reader dead = new KafkaJobSupport.Reader(bootstrap, deadLetters);
             Admin admin = admin()) {
            Set<Path> seen = new HashSet<>();
            for (int attempt = 1; attempt <= 3; attempt++) {
                ChildJvm job = ChildJvm.start(root, root.resolve(name + "-run-" + attempt + ".log"), List.of("-Xmx1g"),
                        Cli.class.getName(), args);
                long started = System.nanoTime();
                try {
                    if (attempt < 3) {
                        IntPredicate when = attempt == 1 ? firstKill : secondKill;
                        int before = completions.records.size();
                        // a checkpoint of this run (not one it resumed from), taken while the condition held
                        Optional<Path> chk = Optional.empty();
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
                        while (System.nanoTime() < deadline) {
                            assertTrue(job.process.isAlive(), "run " + attempt + " ended: " + job.output());
                            int answered = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(100)).size() - before;
                            Optional<Path> latest = checkpoints.latest();
                            if (latest.isPresent() && !seen.contains(latest.get().getParent()) && when.test(answered)
                                    && answered == completions.until(r -> false, Duration.ZERO, Duration.ofMillis(50)).size() - before) {
                                chk = latest;
                                break;
                            }
                        }
                        assertTrue(chk.isPresent(), "run " + attempt + ": no checkpoint while the kill condition held ("
                                + (completions.records.size() - before) + " answered in this run): " + job.output());
                        job.kill();
                        seen.add(chk.get().getParent());
                        int total = completions.until(r -> false, Duration.ZERO, Duration.ofMillis(500)).size();
                        assertTrue(total <= n - unansweredAtKill, "run " + attempt + ": " + total + " of " + n + " answered when it was killed");
                        killedAt.add(String.format("%d of %d answered, %.1f s after start, after %s", total, n,
                                (System.nanoTime() - started) / 1e9, chk.get().getFileName()));
                    } else {
                        completions.atLeast(n, Duration.ofSeconds(240), Duration.ofSeconds(3));
                        killedAt.add(String.format("finished %.1f s after start", (System.nanoTime() - started) / 1e9));
                    }
                } finally {
                    job.close();
                }
                if (attempt > 1) assertTrue(job.output().contains("resuming from " + checkpointDir.resolve("run")),
                        "run " + attempt + " resumed from the retained checkpoint: " + job.output());
            }
            List<Completion> got = completions.completions();
            Set<String> ids = new HashSet<>();
            got.forEach(c -> ids.add(c.getRequestId()));
            int duplicated = got.size() - ids.size(), lost = (int) want.keySet().stream().filter(id -> !ids.contains(id)).count();
            System.out.printf("crash test (%s): killed at %s; requests sent %d, answered %d, duplicated %d, lost %d%n",
                    name, killedAt, n, ids.size(), duplicated, lost);
            assertEquals(List.of(), dead.until(r -> false, Duration.ZERO, Duration.ofMillis(300)).stream().map(r -> new String(r.key())).toList(),
                    "no dead letters");
            KafkaJobSupport.assertMatchesEngine(want, got, "tiny-mistral");
        }
    }
}
