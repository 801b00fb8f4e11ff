package io.mistralflink.operators.pipeline;

import org.apache.flink.runtime.operators.coordination.OperatorEvent;

/** A scheduler subtask to its {@link RoomCoordinator}: its waiting room is full now, or has room again. */
record RoomEvent(boolean full) implements OperatorEvent {
    private static final long serialVersionUID = 1L;
}
