package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceSplit;

import java.io.Serializable;
import java.util.UUID;

/**
 * The credit between a job's prompt source and its schedulers: a source wrapped by {@link #throttle}
 * reads only records it has credit for, and gets none while a scheduler of the same job has a full
 * waiting room ({@link Scheduler#WAITING_PER_SLOT}), on whatever TaskManager either runs. So the
 * scheduler never holds its input to slow the source down: it takes every request that reaches it (a
 * barrier behind them is read at once), and the backlog stays in Kafka, not in the scheduler's state.
 * The source task waits for credit as on any unavailable input: its mailbox runs, so its checkpoints
 * and a stop's savepoint are taken meanwhile.
 *
 * <p>The credit travels through Flink's own control plane, whose two ends run in the JobManager: each
 * scheduler subtask tells its operator's coordinator ({@link RoomCoordinator}) whether its room is
 * full ({@link RoomEvent}); the source's split enumerator, wrapped ({@link GatedEnumerator}), grants its
 * readers credit while no room is full, half a room a grant, a new one to a reader that has spent half
 * its last ({@link CreditEvents}). So what a reader reads after a room filled is what it was granted
 * before the news reached the JobManager, not what it could read meanwhile. The two coordinators meet
 * in the JobManager at this gate's {@link GateState}. A gate is made per job assembly (its name is
 * random), so the jobs of a session cluster never share one.
 */
public final class AdmissionGate implements Serializable {
    private static final long serialVersionUID = 2L;

    private final String name;
    /** Records a reader may read per grant: half a scheduler's waiting room. */
    private final int credit;

    private AdmissionGate(String name, int credit) {
        this.name = name;
        this.credit = credit;
    }

    /** A gate of its own for one job's assembly, whose schedulers have {@code config}'s lanes. */
    public static AdmissionGate create(PipelineConfig config) {
        return new AdmissionGate(UUID.randomUUID().toString(), Math.max(1, Scheduler.WAITING_PER_SLOT * config.lanes() * config.sequencesPerLane() / 2));
    }

    int credit() { return credit; }

    /** {@code source}, reading only while the gate is open. */
    public <T, S extends SourceSplit, E> Source<T, S, E> throttle(Source<T, S, E> source) { return new GatedSource<>(source, this); }

    String name() { return name; }

    /** The JobManager side of this gate, shared by the coordinators of its job until both {@link GateState#leave} it. */
    GateState join() { return GateState.join(name); }

    @Override public String toString() { return "admission gate " + name; }
}
