package io.mistralflink.operators.pipeline;

/**
 * The sampler's answer to one step of one lane: a token per request that sampled (possibly none); for a
 * request that was scored, tokens[i] is the number of positions scored and nll[i] their summed loss
 * (NaN for sampled rows). {@code takenNanos}: when the tail took the answer it was read from ({@link System#nanoTime}: scheduler
 * and tail share a JVM), so that the scheduler can time the feedback hop.
 */
record TokenBatch(String lane, long step, String[] requestIds, int[] tokens, double[] nll, long takenNanos) {}
