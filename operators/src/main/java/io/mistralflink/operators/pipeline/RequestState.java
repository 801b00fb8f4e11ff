package io.mistralflink.operators.pipeline;

import io.mistralflink.model.generate.Sequence;

import java.io.Serializable;
import java.util.Map;

/**
 * What the scheduler keeps per request: its tokens (the truth), what the completion reports, and the
 * record it came in ({@link Original}), for a dead letter after a restore.
 */
final class RequestState implements Serializable {
    /** The class's computed id before {@code source} was added: state written by earlier versions reads, without it. */
    private static final long serialVersionUID = -3383193769977048886L;
    final Sequence sequence;
    final Map<String, String> metadata;
    final long received;
    /** The record's bytes, cut to {@link Original#KEPT} (its length and SHA-256 then in metadata); null for a source without bytes. */
    final byte[] source;
    long admitted, firstToken;

    RequestState(Sequence sequence, Map<String, String> metadata, long received, byte[] source) {
        this.sequence = sequence;
        this.metadata = metadata;
        this.received = received;
        this.source = source;
    }
}
