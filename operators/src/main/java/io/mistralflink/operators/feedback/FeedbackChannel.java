package io.mistralflink.operators.feedback;

import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A non-blocking multi-producer, single-consumer queue from the tail's thread(s) to the head's
 * mailbox thread. Producers never wait: {@link #offer} appends to a lock-free queue and, if no
 * wake-up is outstanding, runs the consumer's wake-up callback. The consumer never waits either: its
 * callback enqueues a mail (e.g. {@code mailboxExecutor.execute(() -> channel.drainTo(this::onToken),
 * "feedback")}), and the mail drains whatever is queued. One wake-up is outstanding at most, so a
 * burst of offers costs one mail, not one per item.
 *
 * <p>FIFO overall, so the order of each producer's items is kept. Unbounded: backpressure belongs to
 * the head, which admits no more work than it has lanes for, so at most one step's tokens per lane
 * are ever queued.
 */
public final class FeedbackChannel<T> {
    private final FeedbackKey key;
    private final ConcurrentLinkedQueue<T> queue = new ConcurrentLinkedQueue<>();
    /** True from a producer's signal until the consumer starts draining. */
    private final AtomicBoolean wakeUpPending = new AtomicBoolean();
    private volatile Runnable wakeUp;
    private volatile boolean closed;

    FeedbackChannel(FeedbackKey key) { this.key = key; }

    public FeedbackKey key() { return key; }

    /**
     * Queues {@code item} and wakes the consumer if needed. Runs the wake-up callback on the caller's
     * thread. Returns false, dropping the item, once the channel is closed (its head has gone).
     */
    public boolean offer(T item) {
        Objects.requireNonNull(item, "item");
        if (closed) return false;
        queue.offer(item);
        signal();
        return true;
    }

    /**
     * Registers the single consumer. {@code wakeUp} runs on producer threads (and here, if items
     * arrived before registration); it must be cheap and never block: enqueue a mail and return.
     */
    public void register(Runnable wakeUp) {
        Objects.requireNonNull(wakeUp, "wakeUp");
        synchronized (this) {
            if (this.wakeUp != null) throw new IllegalStateException("channel " + key + " already has a consumer");
            this.wakeUp = wakeUp;
        }
        // A producer that signalled before the write above saw no callback; its flag is still up.
        if (wakeUpPending.get()) wakeUp.run();
    }

    /** Hands every queued item to {@code sink}, on the consumer's thread; returns how many. */
    public int drainTo(Consumer<? super T> sink) { return drainTo(sink, Integer.MAX_VALUE); }

    /**
     * Hands at most {@code max} items to {@code sink}; if more remain, schedules another wake-up so the
     * mailbox can run other mails (checkpoints, timers, input) in between.
     */
    public int drainTo(Consumer<? super T> sink, int max) {
        // Lower the flag before polling: an item queued after the last poll raises it and wakes again.
        wakeUpPending.set(false);
        int n = 0;
        T item;
        while (n < max && (item = queue.poll()) != null) {
            sink.accept(item);
            n++;
        }
        if (n == max && !queue.isEmpty()) signal();
        return n;
    }

    public boolean isEmpty() { return queue.isEmpty(); }

    public boolean isClosed() { return closed; }

    /** Drops queued items and the consumer; later offers are refused. Called by the broker. */
    void close() {
        closed = true;
        wakeUp = null;
        queue.clear();
    }

    private void signal() {
        if (!wakeUpPending.get() && wakeUpPending.compareAndSet(false, true)) {
            Runnable w = wakeUp;
            if (w != null) w.run();
        }
    }

    @Override
    public String toString() { return "FeedbackChannel" + key; }
}
