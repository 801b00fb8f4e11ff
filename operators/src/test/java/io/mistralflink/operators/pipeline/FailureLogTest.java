package io.mistralflink.operators.pipeline;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** The failure log on a real directory: what it says of a request, forgetting, its bound, a failure noted once, a cancellation not at all. */
class FailureLogTest {

    @Test void aRequestInTwoFailingStepsOneOfThemAloneIsTheCulpritAndForgettingItServesItsIdAgain(@TempDir Path dir) throws Exception {
        FailureLog log = new FailureLog(dir);
        log.record(List.of("a", "b", "c"), new IllegalStateException("first"));
        Thread.sleep(2); // file names are ordered by the millisecond
        log.record(List.of("a", "b"), new IllegalStateException("second"));
        Map<String, FailureLog.Record> r = log.read();
        assertTrue(r.get("a").suspect() && r.get("b").suspect() && !r.get("c").suspect(), r.toString());
        Thread.sleep(2);
        log.record(List.of("a"), new IllegalStateException("third\nsecond line"));
        r = log.read();
        assertTrue(r.get("a").culprit(), r.toString());
        assertEquals("failed the job 3 times: java.lang.IllegalStateException: third", r.get("a").reason());

        log.forget(Set.of("a", "c"));
        r = log.read();
        assertEquals(Set.of("b"), r.keySet(), "a and c forgotten");
        assertEquals(2, r.get("b").failures());
        assertEquals(2, files(dir), "the step of a alone is gone, the others keep b");
        log.forget(Set.of("b"));
        assertEquals(0, files(dir), "nothing left");
        assertTrue(log.read().isEmpty());
    }

    @Test void theLogKeepsTheNewestFailingStepsUpToItsBound(@TempDir Path dir) throws Exception {
        int bound = 20;
        FailureLog log = new FailureLog(dir, bound);
        for (int i = 0; i < bound + 5; i++) {
            log.record(List.of("r" + i), new RuntimeException("step " + i));
            Thread.sleep(2); // file names are ordered by the millisecond
        }
        assertEquals(bound, files(dir));
        Map<String, FailureLog.Record> r = log.read();
        assertEquals(bound, r.size());
        for (int i = 0; i < 5; i++) assertFalse(r.containsKey("r" + i), "the oldest dropped");
        assertTrue(r.containsKey("r" + (bound + 4)), "the newest kept");
    }

    @Test void aFailureIsNotedOnceThoughItPassesUpTheChain(@TempDir Path dir) throws Exception {
        FailureLog log = new FailureLog(dir);
        RuntimeException inStage = new RuntimeException("in a chained stage");
        log.record(List.of("x", "y"), inStage);                          // where it happened
        log.record(List.of("x"), inStage);                               // the scheduler that sent the step
        log.record(List.of("x"), new RuntimeException("wrapped", inStage));
        assertEquals(1, files(dir));
        assertFalse(log.read().get("x").failedAlone());
        log.record(List.of("z"), new RuntimeException("cancelled", new InterruptedException()));
        assertEquals(1, files(dir), "a task being cancelled is no evidence");
    }

    /**
     * After a rescale the ids of one failing step belong to two schedulers, each with a log of its own
     * on the same directory, forgetting theirs at the same time: the file ends with no id, none put back.
     */
    @Test void twoSchedulersForgettingIdsOfOneStepAtOnceLoseNoneOfTheirForgetting(@TempDir Path dir) throws Exception {
        int n = 150;
        List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < 2 * n; i++) ids.add("r" + i);
        new FailureLog(dir).record(ids, new RuntimeException("a step of both"));
        var start = new java.util.concurrent.CountDownLatch(1);
        List<Thread> schedulers = new java.util.ArrayList<>();
        for (int parity = 0; parity < 2; parity++) {
            int p = parity;
            FailureLog log = new FailureLog(dir);
            schedulers.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                    for (int i = p; i < 2 * n; i += 2) log.forget(Set.of("r" + i));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        start.countDown();
        for (Thread t : schedulers) t.join(60_000);
        Set<String> left = new FailureLog(dir).read().keySet();
        assertTrue(left.isEmpty(), left.size() + " of " + 2 * n + " forgotten ids put back by a rewrite: " + left.stream().limit(5).toList());
        assertEquals(0, files(dir));
    }

    private static long files(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) { return s.filter(p -> p.toString().endsWith(".txt")).count(); }
    }
}
