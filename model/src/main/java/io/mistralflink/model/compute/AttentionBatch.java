package io.mistralflink.model.compute;

import java.util.List;

/**
 * How the rows of a micro-batch split into sequences for attention.
 *
 * @param window the sliding window W: the token at position i attends to positions i-W+1 .. i
 */
public record AttentionBatch(int heads, int kvHeads, int headDim, int window, List<Segment> segments) {

    /** Rows [offset, offset+length) are positions [start, start+length) of the sequence owning cache. */
    public record Segment(KvCache cache, int offset, int length, int start) {}
}
