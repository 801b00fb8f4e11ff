package io.mistralflink.operators.pipeline;

import io.mistralflink.model.generate.Sequence;

import java.io.Serializable;
import java.util.Map;

/** What the scheduler keeps per request: its tokens (the truth) and what the completion reports. */
final class RequestState implements Serializable {
    final Sequence sequence;
    final Map<String, String> metadata;
    final long received;
    long admitted, firstToken;

    RequestState(Sequence sequence, Map<String, String> metadata, long received) {
        this.sequence = sequence;
        this.metadata = metadata;
        this.received = received;
    }
}
