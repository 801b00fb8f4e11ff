package io.mistralflink.operators.pipeline;

import org.apache.flink.runtime.operators.coordination.OperatorEvent;

/**
 * An operator subtask of an {@link AdmissionGate}'s ledger to its {@link CountCoordinator}: how many
 * requests this attempt has counted since it started (passed toward the schedulers, or taken in by one).
 */
record CountEvent(long count) implements OperatorEvent {
    private static final long serialVersionUID = 1L;
}
