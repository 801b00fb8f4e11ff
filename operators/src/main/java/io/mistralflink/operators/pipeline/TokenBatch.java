package io.mistralflink.operators.pipeline;

/** The sampler's answer to one step of one lane: a token per request that sampled (possibly none). */
record TokenBatch(String lane, long step, String[] requestIds, int[] tokens) {}
