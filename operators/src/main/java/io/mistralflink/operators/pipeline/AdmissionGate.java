package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceSplit;

import java.io.Serializable;
import java.util.UUID;

/**
 * The credit between a job's prompt source and its schedulers: a source wrapped by {@link #throttle}
 * reads only records it has credit for, and is granted only what the schedulers' waiting rooms
 * ({@link Scheduler#WAITING_PER_SLOT}) have free, on whatever TaskManager each runs. So the scheduler
 * never holds its input to slow the source down: it takes every request that reaches it (a barrier
 * behind them is read at once), and the backlog stays in Kafka, not in the scheduler's state or in
 * network buffers. The source task waits for credit as on any unavailable input: its mailbox runs, so
 * its checkpoints and a stop's savepoint are taken meanwhile.
 *
 * <p>The credit is a ledger in the JobManager ({@link GateState}), kept through Flink's own control
 * plane. The source's split enumerator, wrapped ({@link GatedEnumerator}), grants its readers at most
 * half a room at a time, a new grant to a reader that has spent half its last ({@link CreditEvents});
 * an {@link AdmissionMeter} before the schedulers counts the requests passed toward them, and each
 * scheduler subtask the requests it took out of its waiting room ({@link CountEvent}s to a {@link
 * CountCoordinator} each). Granted and not yet read, passed and not yet taken in: that is what is held
 * out, and the enumerator grants only while it is less than the rooms (a room per scheduler subtask).
 * So how far the sources read ahead does not depend on how late the news of a full room arrives. A
 * gate is made per job assembly (its name is random), so the jobs of a session cluster never share one.
 */
public final class AdmissionGate implements Serializable {
    private static final long serialVersionUID = 3L;

    private final String name;
    /** A scheduler subtask's waiting room: what the gate may hold out per scheduler subtask. */
    private final int room;

    private AdmissionGate(String name, int room) {
        this.name = name;
        this.room = room;
    }

    /** A gate of its own for one job's assembly, whose schedulers have {@code config}'s lanes. */
    public static AdmissionGate create(PipelineConfig config) {
        return new AdmissionGate(UUID.randomUUID().toString(), Scheduler.WAITING_PER_SLOT * config.lanes() * config.sequencesPerLane());
    }

    int room() { return room; }

    /** The most records a reader is granted at once: half a room. */
    int credit() { return Math.max(1, room / 2); }

    /**
     * How many requests a meter or scheduler subtask counts between two words to the ledger (and at
     * each checkpoint the rest): what the ledger may not know yet is a few per subtask, far below a room.
     */
    int reportEvery() { return Math.max(1, room / 8); }

    /** {@code source}, reading only while the gate is open. */
    public <T, S extends SourceSplit, E> Source<T, S, E> throttle(Source<T, S, E> source) { return new GatedSource<>(source, this); }

    String name() { return name; }

    /** The JobManager side of this gate, shared by the coordinators of its job until both {@link GateState#leave} it. */
    GateState join() { return GateState.join(name); }

    @Override public String toString() { return "admission gate " + name; }
}
