package io.mistralflink.operators.feedback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FeedbackChannelTest {
    private static int nextJob;
    private final List<FeedbackKey> keys = new ArrayList<>();
    private final ExecutorService mailbox = Executors.newSingleThreadExecutor(r -> new Thread(r, "head-mailbox"));

    private FeedbackKey key(int subtask, int attempt) {
        FeedbackKey k = new FeedbackKey("loop", "job-" + nextJob++, subtask, attempt);
        keys.add(k);
        return k;
    }

    @AfterEach
    void cleanUp() throws Exception {
        keys.forEach(FeedbackBroker::remove);
        mailbox.shutdownNow();
        assertTrue(mailbox.awaitTermination(10, TimeUnit.SECONDS));
    }

    /** Producers race a consumer that only drains when woken, as the head's mailbox does. */
    private void concurrentProducers(int producers, int perProducer, int drainMax) throws Exception {
        FeedbackChannel<Long> channel = FeedbackBroker.get(key(0, 0));
        int[] next = new int[producers]; // touched by the mailbox thread only
        AtomicInteger received = new AtomicInteger();
        AtomicInteger wakeUps = new AtomicInteger();
        List<String> errors = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        int total = producers * perProducer;
        channel.register(() -> {
            wakeUps.incrementAndGet();
            mailbox.execute(() -> channel.drainTo(item -> {
                int p = (int) (item >>> 32);
                int seq = (int) (long) item;
                if (seq != next[p]) errors.add("producer " + p + ": got " + seq + ", expected " + next[p]);
                next[p] = seq + 1;
                if (received.incrementAndGet() == total) done.countDown();
            }, drainMax));
        });
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            long id = p;
            Thread t = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < perProducer; i++) {
                    assertTrue(channel.offer(id << 32 | i));
                    if (i % 1000 == 0) Thread.yield();
                }
            }, "tail-" + p);
            t.start();
            threads.add(t);
        }
        start.countDown();
        for (Thread t : threads) t.join();
        // No final manual drain: everything must arrive through wake-ups alone (no lost wake-up).
        assertTrue(done.await(30, TimeUnit.SECONDS), "received " + received.get() + " of " + total);
        mailbox.submit(() -> {}).get(); // let the last drain finish
        assertEquals(List.of(), errors);
        for (int p = 0; p < producers; p++) assertEquals(perProducer, next[p], "producer " + p);
        assertEquals(total, received.get(), "duplicates");
        assertTrue(channel.isEmpty());
        assertTrue(wakeUps.get() <= total);
        System.out.printf("%d producers x %d items, drain max %d: %d wake-ups%n", producers, perProducer, drainMax, wakeUps.get());
    }

    @Test
    void concurrentProducersLoseNothingDuplicateNothingKeepOrder() throws Exception { concurrentProducers(4, 200_000, Integer.MAX_VALUE); }

    @Test
    void boundedDrainsRescheduleThemselves() throws Exception { concurrentProducers(3, 50_000, 7); }

    @Test
    void itemsOfferedBeforeRegistrationWakeTheConsumerOnRegistration() {
        FeedbackChannel<String> channel = FeedbackBroker.get(key(1, 0));
        assertTrue(channel.offer("a"));
        assertTrue(channel.offer("b"));
        List<String> got = new ArrayList<>();
        AtomicInteger wakeUps = new AtomicInteger();
        channel.register(wakeUps::incrementAndGet);
        assertEquals(1, wakeUps.get());
        assertEquals(2, channel.drainTo(got::add));
        assertEquals(List.of("a", "b"), got);
        channel.offer("c");
        channel.offer("d"); // the first wake-up is still outstanding: no second one
        assertEquals(2, wakeUps.get());
        channel.drainTo(got::add);
        channel.offer("e");
        assertEquals(3, wakeUps.get());
    }

    @Test
    void oneConsumerOnly() {
        FeedbackChannel<String> channel = FeedbackBroker.get(key(0, 0));
        channel.register(() -> {});
        assertThrows(IllegalStateException.class, () -> channel.register(() -> {}));
    }

    @Test
    void brokerPairsByKeyAndRemoveCloses() {
        FeedbackKey k = key(3, 1);
        FeedbackChannel<String> head = FeedbackBroker.get(k);
        FeedbackChannel<String> tail = FeedbackBroker.get(new FeedbackKey(k.edge(), k.jobId(), 3, 1));
        assertSame(head, tail);
        assertNotSame(head, FeedbackBroker.get(key(3, 2)));
        assertNotSame(head, FeedbackBroker.get(new FeedbackKey("other", k.jobId(), 3, 1)));
        keys.add(new FeedbackKey("other", k.jobId(), 3, 1));
        int before = FeedbackBroker.size();
        tail.offer("x");
        FeedbackBroker.remove(k);
        FeedbackBroker.remove(k); // both sides may call it
        assertEquals(before - 1, FeedbackBroker.size());
        assertTrue(head.isClosed());
        assertTrue(head.isEmpty());
        assertFalse(tail.offer("y"));
        assertNotSame(head, FeedbackBroker.get(k)); // a late get opens a fresh channel
    }
}
