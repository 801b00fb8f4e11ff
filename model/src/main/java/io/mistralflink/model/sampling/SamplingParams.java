package io.mistralflink.model.sampling;

import java.util.List;

/**
 * How one request picks its tokens and when it stops. temperature 0 is greedy; topK 0, topP 1 and
 * minP 0 disable those filters. minP keeps, after temperature, the tokens whose probability is at
 * least minP times the largest one (Hugging Face's MinPLogitsWarper, vLLM's min_p).
 */
public record SamplingParams(float temperature, float topP, int topK, float minP, long seed, int maxNewTokens,
                             boolean ignoreEos, List<String> stop, int[] stopTokenIds) implements java.io.Serializable {

    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(0f, 1f, 0, 0L, maxNewTokens, false, List.of(), new int[0]);
    }

    /** Without min_p (0: off). */
    public SamplingParams(float temperature, float topP, int topK, long seed, int maxNewTokens,
                          boolean ignoreEos, List<String> stop, int[] stopTokenIds) {
        this(temperature, topP, topK, 0f, seed, maxNewTokens, ignoreEos, stop, stopTokenIds);
    }

    public SamplingParams {
        if (Float.isNaN(temperature) || temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (Float.isNaN(topP) || topP <= 0 || topP > 1) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (Float.isNaN(minP) || minP < 0 || minP > 1) throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        if (maxNewTokens < 1) throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        stop = List.copyOf(stop);
        stopTokenIds = stopTokenIds.clone();
    }

    public boolean greedyDecoding() { return temperature == 0f; }

    /** Only what a draw reads, the stop rules left neutral: what a pipeline step carries to the last stage. */
    public SamplingParams forDraw() {
        return new SamplingParams(temperature, topP, topK, minP, seed, 1, false, List.of(), new int[0]);
    }

    /** By value, the stop token ids included (a record compares arrays by identity). */
    @Override public boolean equals(Object o) {
        return o instanceof SamplingParams p && Float.compare(temperature, p.temperature) == 0 && Float.compare(topP, p.topP) == 0
                && topK == p.topK && Float.compare(minP, p.minP) == 0 && seed == p.seed && maxNewTokens == p.maxNewTokens && ignoreEos == p.ignoreEos
                && stop.equals(p.stop) && java.util.Arrays.equals(stopTokenIds, p.stopTokenIds);
    }

    @Override public int hashCode() {
        return java.util.Objects.hash(temperature, topP, topK, minP, seed, maxNewTokens, ignoreEos, stop, java.util.Arrays.hashCode(stopTokenIds));
    }

    /**
     * The seed of a request that names none, from a stable key (its id): FNV-1a of the key's UTF-8 bytes,
     * the same in every JVM and on every replay.
     */
    public static long stableSeed(String key) {
        long h = 0xcbf29ce484222325L;
        for (byte b : key.getBytes(java.nio.charset.StandardCharsets.UTF_8)) { h ^= (b & 0xff); h *= 0x100000001b3L; }
        return h;
    }
}
