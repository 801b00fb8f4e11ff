package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.SourceEvent;

/** What a {@link GatedEnumerator} and its readers say to each other: the admission credit. */
final class CreditEvents {
    private CreditEvents() {}

    /** A reader to its enumerator: it has spent half its credit (or all), and would read on. */
    record Request() implements SourceEvent {
        private static final long serialVersionUID = 1L;
    }

    /** The enumerator to a reader that asked, while the gate is open: it may read {@code records} more. */
    record Grant(int records) implements SourceEvent {
        private static final long serialVersionUID = 1L;
    }
}
