package io.mistralflink.operators.pipeline;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The coordinator of a gated {@link Scheduler}, in the JobManager: which of its subtasks say their
 * waiting room is full ({@link RoomEvent}); while any does, it closes the job's {@link AdmissionGate}.
 *
 * <p>It keeps nothing in checkpoints: what a subtask says lives as long as that attempt. A failed
 * attempt's "full" is dropped ({@link #executionAttemptFailed}, {@link #subtaskReset}, and all of them
 * at a global {@link #resetToCheckpoint}), and a late word of an attempt that a newer one replaced is
 * ignored; every attempt reports its room once it has opened, so after a JobManager failover, which
 * makes new coordinators and redeploys every task, the state is derived again from the first reports.
 */
final class RoomCoordinator implements OperatorCoordinator {
    private final AdmissionGate gate;
    /** Subtask -> the attempt that said its room is full. */
    private final Map<Integer, Integer> full = new HashMap<>();
    /** Subtask -> its newest attempt heard of. */
    private final Map<Integer, Integer> latest = new HashMap<>();
    private GateState state;

    RoomCoordinator(AdmissionGate gate) { this.gate = gate; }

    @Override public synchronized void start() {
        state = gate.join();
        publish();
    }

    @Override public synchronized void close() {
        if (state != null) state.leave(this);
        state = null;
    }

    @Override public synchronized void handleEventFromOperator(int subtask, int attempt, OperatorEvent event) {
        if (!(event instanceof RoomEvent room)) throw new IllegalArgumentException("not a scheduler's room event: " + event);
        if (attempt < latest.getOrDefault(subtask, 0)) return; // a replaced attempt's
        latest.put(subtask, attempt);
        if (room.full()) full.put(subtask, attempt);
        else full.remove(subtask);
        publish();
    }

    @Override public synchronized void executionAttemptReady(int subtask, int attempt, SubtaskGateway gateway) {
        latest.merge(subtask, attempt, Math::max);
    }

    @Override public synchronized void executionAttemptFailed(int subtask, int attempt, Throwable reason) {
        full.remove(subtask, attempt);
        publish();
    }

    @Override public synchronized void subtaskReset(int subtask, long checkpointId) {
        full.remove(subtask);
        publish();
    }

    @Override public synchronized void resetToCheckpoint(long checkpointId, byte[] checkpointData) {
        full.clear();
        publish();
    }

    @Override public void checkpointCoordinator(long checkpointId, CompletableFuture<byte[]> result) { result.complete(new byte[0]); }

    @Override public void notifyCheckpointComplete(long checkpointId) {}

    private void publish() {
        if (state != null) state.close(this, !full.isEmpty());
    }

    /** Makes the coordinator of the scheduler operator {@code operator}. */
    record Provider(OperatorID operator, AdmissionGate gate) implements OperatorCoordinator.Provider {
        private static final long serialVersionUID = 1L;

        @Override public OperatorID getOperatorId() { return operator; }

        @Override public OperatorCoordinator create(Context context) { return new RoomCoordinator(gate); }
    }
}
