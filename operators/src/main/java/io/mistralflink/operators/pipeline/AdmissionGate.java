package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceSplit;

import java.io.Serializable;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The credit between a job's prompt source and its schedulers: a source wrapped by {@link #throttle}
 * reads nothing while a scheduler of the same job in this JVM has a full waiting room
 * ({@link Scheduler#WAITING_PER_SLOT}). So the scheduler never holds its input to slow the source
 * down: it takes every request that reaches it (a barrier behind them is read at once), and the
 * backlog stays in Kafka, not in the scheduler's state. The source task waits on the gate as on any
 * unavailable input: its mailbox runs, so its checkpoints and a stop's savepoint are taken meanwhile.
 *
 * <p>A JVM-wide meeting point (as {@link io.mistralflink.operators.feedback.FeedbackBroker}): exact
 * where the sources and schedulers share a JVM (the local cluster of {@code run} and {@code demo}).
 * On a cluster of several TaskManagers a source sees only the schedulers of its own JVM; what else
 * reaches a scheduler waits in its state up to {@link Scheduler#HOLD_PER_SLOT} per slot, beyond which
 * the scheduler holds its input (backpressure) as an ungated input's always does.
 */
public final class AdmissionGate implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final ConcurrentHashMap<String, Holds> GATES = new ConcurrentHashMap<>();

    private final String name;

    private AdmissionGate(String name) { this.name = name; }

    /** A gate of its own for one job's assembly. */
    public static AdmissionGate create() { return new AdmissionGate(UUID.randomUUID().toString()); }

    /** {@code source}, reading only while the gate is open. */
    public <T, S extends SourceSplit, E> Source<T, S, E> throttle(Source<T, S, E> source) { return new GatedSource<>(source, this); }

    private Holds holds() { return GATES.computeIfAbsent(name, n -> new Holds()); }

    /**
     * A scheduler ({@code holder}: its subtask index, so that a restarted attempt replaces what a
     * failed one said) says whether its waiting room is full.
     */
    void hold(String holder, boolean full) { holds().set(holder, full); }

    /** Whether the source may read. */
    boolean open() { return holds().open(); }

    /** Completes once the gate is open (at once if it is). */
    CompletableFuture<Void> whenOpen() { return holds().whenOpen(); }

    private static final class Holds {
        private final Set<String> full = new HashSet<>();
        private CompletableFuture<Void> opened = CompletableFuture.completedFuture(null);

        synchronized void set(String holder, boolean isFull) {
            if (isFull) {
                if (full.isEmpty()) opened = new CompletableFuture<>();
                full.add(holder);
            } else if (full.remove(holder) && full.isEmpty()) {
                opened.complete(null);
            }
        }

        synchronized boolean open() { return full.isEmpty(); }

        synchronized CompletableFuture<Void> whenOpen() { return opened; }
    }
}
