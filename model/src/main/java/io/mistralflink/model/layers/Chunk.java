package io.mistralflink.model.layers;

import io.mistralflink.model.compute.KvCache;

/**
 * One sequence's share of a micro-batch step: tokens at positions [start, start + tokens.length),
 * a prefill chunk or a single decode token, and which of its rows need logits.
 */
public record Chunk(KvCache cache, int start, int[] tokens, Logits logits) {
    /** NONE: a prefill chunk that does not reach the prompt's end; LAST: generation; ALL: scoring. */
    public enum Logits { NONE, LAST, ALL }

    public int length() { return tokens.length; }

    public int logitRows() {
        return switch (logits) { case NONE -> 0; case LAST -> 1; case ALL -> tokens.length; };
    }
}
