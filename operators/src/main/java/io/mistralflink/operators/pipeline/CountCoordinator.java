package io.mistralflink.operators.pipeline;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * In the JobManager, one side of an {@link AdmissionGate}'s ledger ({@link GateState}): the sum of
 * what an operator's subtasks count ({@link CountEvent}). The {@link AdmissionMeter} counts requests
 * passed toward the schedulers (they add to what the gate holds out); a {@link Scheduler} counts the
 * requests it took out of its waiting room (they no longer do), and brings the room of its subtasks.
 *
 * <p>It keeps nothing in checkpoints: a count lives as long as the attempt that sent it. A failed
 * attempt's count is dropped ({@link #executionAttemptFailed}, {@link #subtaskReset}, and all of them
 * at a global {@link #resetToCheckpoint}), as Flink drops what that attempt had in flight, and a late
 * word of an attempt that a newer one replaced is ignored. After a JobManager failover, which makes
 * new coordinators and redeploys every task, every count starts again from zero on both sides.
 */
final class CountCoordinator implements OperatorCoordinator {
    /** What the subtasks count. */
    enum Side {
        /** Requests passed toward the schedulers: held out until one takes them in. */
        PASSED(1),
        /** Requests taken out of a scheduler's waiting room (into a lane, or answered at once). */
        TAKEN(-1);

        final int sign;

        Side(int sign) { this.sign = sign; }
    }

    private record Count(int attempt, long count) {}

    private final AdmissionGate gate;
    private final Side side;
    /** The requests the gate may hold out for these subtasks: their waiting rooms (schedulers only). */
    private final long capacity;
    /** Subtask -> its newest attempt's count. */
    private final Map<Integer, Count> counts = new HashMap<>();
    /** Subtask -> its newest attempt heard of. */
    private final Map<Integer, Integer> latest = new HashMap<>();
    private GateState state;

    CountCoordinator(AdmissionGate gate, Side side, int parallelism) {
        this.gate = gate;
        this.side = side;
        this.capacity = side == Side.TAKEN ? (long) gate.room() * parallelism : 0;
    }

    @Override public synchronized void start() {
        state = gate.join();
        publish();
    }

    @Override public synchronized void close() {
        if (state != null) state.leave(this);
        state = null;
    }

    @Override public synchronized void handleEventFromOperator(int subtask, int attempt, OperatorEvent event) {
        if (!(event instanceof CountEvent c)) throw new IllegalArgumentException("not a count of the admission ledger: " + event);
        if (attempt < latest.getOrDefault(subtask, 0)) return; // a replaced attempt's
        latest.put(subtask, attempt);
        counts.put(subtask, new Count(attempt, c.count()));
        publish();
    }

    @Override public synchronized void executionAttemptReady(int subtask, int attempt, SubtaskGateway gateway) {
        latest.merge(subtask, attempt, Math::max);
    }

    @Override public synchronized void executionAttemptFailed(int subtask, int attempt, Throwable reason) {
        Count c = counts.get(subtask);
        if (c != null && c.attempt() == attempt) counts.remove(subtask);
        publish();
    }

    @Override public synchronized void subtaskReset(int subtask, long checkpointId) {
        counts.remove(subtask);
        publish();
    }

    @Override public synchronized void resetToCheckpoint(long checkpointId, byte[] checkpointData) {
        counts.clear();
        publish();
    }

    @Override public void checkpointCoordinator(long checkpointId, CompletableFuture<byte[]> result) { result.complete(new byte[0]); }

    @Override public void notifyCheckpointComplete(long checkpointId) {}

    private void publish() {
        long sum = 0;
        for (Count c : counts.values()) sum += c.count();
        if (state != null) state.post(this, side.sign * sum, capacity);
    }

    /** Makes the coordinator of the operator {@code operator}, a meter or a scheduler ({@code side}). */
    record Provider(OperatorID operator, AdmissionGate gate, Side side) implements OperatorCoordinator.Provider {
        private static final long serialVersionUID = 1L;

        @Override public OperatorID getOperatorId() { return operator; }

        @Override public OperatorCoordinator create(Context context) { return new CountCoordinator(gate, side, context.currentParallelism()); }
    }
}
