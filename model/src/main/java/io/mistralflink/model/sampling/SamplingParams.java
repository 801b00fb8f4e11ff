package io.mistralflink.model.sampling;

import java.util.List;

/**
 * How one request picks its tokens and when it stops. temperature 0 is greedy; topK 0 and topP 1
 * disable those filters.
 */
public record SamplingParams(float temperature, float topP, int topK, long seed, int maxNewTokens,
                             boolean ignoreEos, List<String> stop, int[] stopTokenIds) implements java.io.Serializable {

    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(0f, 1f, 0, 0L, maxNewTokens, false, List.of(), new int[0]);
    }

    public SamplingParams {
        if (Float.isNaN(temperature) || temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (Float.isNaN(topP) || topP <= 0 || topP > 1) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (maxNewTokens < 1) throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        stop = List.copyOf(stop);
        stopTokenIds = stopTokenIds.clone();
    }

    public boolean greedyDecoding() { return temperature == 0f; }

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
