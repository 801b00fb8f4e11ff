package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.SourceEvent;

/** What a {@link GatedEnumerator} and its readers say to each other: the admission credit. */
final class CreditEvents {
    private CreditEvents() {}

    /**
     * A reader to its enumerator: it has spent half its credit (or all), and would read on; it has
     * read {@code spent} records since it started.
     */
    record Request(long spent) implements SourceEvent {
        private static final long serialVersionUID = 2L;
    }

    /** The enumerator to a reader that asked, once the rooms have space: it may read {@code records} more. */
    record Grant(int records) implements SourceEvent {
        private static final long serialVersionUID = 1L;
    }
}
