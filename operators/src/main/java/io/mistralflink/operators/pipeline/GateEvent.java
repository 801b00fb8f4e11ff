package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.SourceEvent;

/** A {@link GatedEnumerator} to its readers: whether the {@link AdmissionGate} is open. */
record GateEvent(boolean open) implements SourceEvent {
    private static final long serialVersionUID = 1L;
}
