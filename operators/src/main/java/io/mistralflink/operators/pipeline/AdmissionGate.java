package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceSplit;

import java.io.Serializable;
import java.util.UUID;

/**
 * The credit between a job's prompt source and its schedulers: a source wrapped by {@link #throttle}
 * reads nothing while a scheduler of the same job has a full waiting room ({@link
 * Scheduler#WAITING_PER_SLOT}), on whatever TaskManager either runs. So the scheduler never holds its
 * input to slow the source down: it takes every request that reaches it (a barrier behind them is read
 * at once), and the backlog stays in Kafka, not in the scheduler's state. The source task waits on the
 * gate as on any unavailable input: its mailbox runs, so its checkpoints and a stop's savepoint are
 * taken meanwhile.
 *
 * <p>The credit travels through Flink's own control plane, whose two ends run in the JobManager: each
 * scheduler subtask tells its operator's coordinator ({@link RoomCoordinator}) whether its room is full
 * ({@link RoomEvent}); the source's split enumerator, wrapped ({@link GatedEnumerator}), tells its
 * readers whether the gate is open ({@link GateEvent}). The two coordinators meet in the JobManager at
 * this gate's {@link GateState}. A gate is made per job assembly (its name is random), so the jobs of a
 * session cluster never share one.
 */
public final class AdmissionGate implements Serializable {
    private static final long serialVersionUID = 2L;

    private final String name;

    private AdmissionGate(String name) { this.name = name; }

    /** A gate of its own for one job's assembly. */
    public static AdmissionGate create() { return new AdmissionGate(UUID.randomUUID().toString()); }

    /** {@code source}, reading only while the gate is open. */
    public <T, S extends SourceSplit, E> Source<T, S, E> throttle(Source<T, S, E> source) { return new GatedSource<>(source, this); }

    String name() { return name; }

    /** The JobManager side of this gate, shared by the coordinators of its job until both {@link GateState#leave} it. */
    GateState join() { return GateState.join(name); }

    @Override public String toString() { return "admission gate " + name; }
}
