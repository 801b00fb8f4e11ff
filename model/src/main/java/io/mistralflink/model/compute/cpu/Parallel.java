package io.mistralflink.model.compute.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A small fork-join for the CPU kernels: the caller and {@code threads - 1} workers split [0, n) into
 * chunks. Workers spin briefly between kernels (a forward pass is a stream of short kernels), then
 * park. One caller at a time; a concurrent second caller runs its range alone rather than wait.
 */
final class Parallel implements AutoCloseable {
    interface Body { void run(int from, int to); }

    private static final long SPIN_NANOS = 200_000;

    /**
     * One kernel launch; its own counters, so a late worker cannot touch the next launch. A chunk that
     * throws is recorded, not lost with its worker: the caller rethrows it once every chunk is done.
     */
    private record Task(Body body, int n, int chunk, int chunks, AtomicInteger next, AtomicInteger done, AtomicReference<Throwable> failed) {
        void runChunks() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                int from = c * chunk, to = Math.min(n, from + chunk);
                try { if (from < to) body.run(from, to); }
                catch (Throwable e) { failed.compareAndSet(null, e); }
                finally { done.incrementAndGet(); }
            }
        }
    }

    private final Thread[] workers;
    private final AtomicInteger busy = new AtomicInteger();
    private volatile Task task;
    private volatile boolean closed;

    Parallel(int threads) {
        workers = new Thread[Math.max(0, threads - 1)];
        for (int i = 0; i < workers.length; i++)
            workers[i] = Thread.ofPlatform().daemon().name("cpu-backend-" + i).start(this::work);
    }

    int threads() { return workers.length + 1; }

    /** Runs body over [0, n) in chunks of at least grain items. */
    void range(int n, int grain, Body body) {
        int parts = Math.min(threads(), n / Math.max(1, grain));
        if (parts <= 1 || !busy.compareAndSet(0, 1)) { body.run(0, n); return; }
        try {
            int chunks = Math.min(n, parts * 2);
            Task t = new Task(body, n, (n + chunks - 1) / chunks, chunks, new AtomicInteger(), new AtomicInteger(), new AtomicReference<>());
            task = t;
            for (Thread w : workers) LockSupport.unpark(w);
            t.runChunks();
            // Spin, but give the core away now and then: on a busy machine the worker we wait for may
            // be waiting for this very core. Every chunk is done before range returns, or throws: the
            // workers read the caller's memory (weights, activations), which it may free right after.
            for (int spins = 0; t.done.get() < t.chunks; spins++) {
                if ((spins & 1023) == 1023) Thread.yield();
                else Thread.onSpinWait();
            }
            Throwable e = t.failed.get();
            if (e instanceof RuntimeException r) throw r;
            if (e instanceof Error r) throw r;
            if (e != null) throw new IllegalStateException(e);
        } finally {
            busy.set(0);
        }
    }

    private void work() {
        Task seen = null;
        while (!closed) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            Task t;
            while ((t = task) == seen && !closed) {
                if (System.nanoTime() > spinUntil) LockSupport.parkNanos(this, 1_000_000);
                else Thread.onSpinWait();
            }
            seen = t;
            if (t != null) t.runChunks();
        }
    }

    @Override public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
