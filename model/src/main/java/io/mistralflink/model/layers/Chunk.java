package io.mistralflink.model.layers;

import io.mistralflink.model.compute.KvCache;

/**
 * One sequence's share of a micro-batch step: tokens at positions [start, start + tokens.length),
 * a prefill chunk or a single decode token.
 *
 * @param allLogits logits for every row (scoring) rather than the last one only (generation)
 */
public record Chunk(KvCache cache, int start, int[] tokens, boolean allLogits) {
    public int length() { return tokens.length; }
    public int logitRows() { return allLogits ? tokens.length : 1; }
}
