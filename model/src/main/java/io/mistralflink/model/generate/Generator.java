package io.mistralflink.model.generate;

import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The engine alone: continuous batching of sequences through a whole-model shard. Each step takes a
 * decode token from every decoding sequence and prefill chunks (at most W tokens each) from the
 * others, up to a token budget; sequences leave as they finish. The Flink pipeline does the same
 * across stages; this is its oracle.
 */
public final class Generator {
    /** Wall-clock split of a run: until every sequence has its first token, and after. */
    public record Timings(long prefillNanos, long decodeNanos, int steps) {}

    private final Shard model;
    private final Tokenizer tokenizer;
    private final int maxBatchTokens;

    public Generator(Shard model, Tokenizer tokenizer, int maxBatchTokens) {
        if (!model.isFirst() || !model.isLast()) throw new IllegalArgumentException("the generator needs the whole model");
        this.model = model; this.tokenizer = tokenizer; this.maxBatchTokens = maxBatchTokens;
    }

    /** Runs every sequence to its end. */
    public Timings run(List<Sequence> sequences) {
        Map<Sequence, KvCache> caches = new IdentityHashMap<>();
        for (Sequence s : sequences) caches.put(s, model.newCache());
        List<Sequence> active = new ArrayList<>(sequences);
        long start = System.nanoTime(), firstTokens = -1;
        int steps = 0, window = model.config().window();
        try {
            while (!active.isEmpty()) {
                List<Chunk> chunks = new ArrayList<>();
                List<Sequence> members = new ArrayList<>();
                int budget = maxBatchTokens;
                // Decoding sequences first: one token each keeps their latency flat while prompts stream in.
                for (int pass = 0; pass < 2 && budget > 0; pass++) {
                    for (Sequence s : active) {
                        if (s.prefilling() != (pass == 1) || budget == 0) continue;
                        int[] tokens = s.nextTokens(budget, window);
                        chunks.add(new Chunk(caches.get(s), s.fed(), tokens, false));
                        members.add(s);
                        budget -= tokens.length;
                    }
                }
                SamplingParams[] params = new SamplingParams[chunks.size()];
                int[] draws = new int[chunks.size()];
                for (int i = 0; i < chunks.size(); i++) {
                    Sequence s = members.get(i);
                    if (s.samplesAfter(chunks.get(i).length())) params[i] = s.params();
                    draws[i] = s.step();
                }
                // The backend picks the tokens (on a GPU, only their ids come back).
                int[] next = model.sample(chunks, null, params, draws);
                steps++;
                for (int i = 0; i < chunks.size(); i++) {
                    Sequence s = members.get(i);
                    s.advance(chunks.get(i).length());
                    if (params[i] != null) s.append(next[i], tokenizer);
                }
                active.removeIf(Sequence::finished);
                if (firstTokens < 0 && sequences.stream().allMatch(s -> s.generatedCount() > 0)) firstTokens = System.nanoTime();
            }
        } finally {
            caches.values().forEach(KvCache::close);
        }
        long end = System.nanoTime();
        if (firstTokens < 0) firstTokens = end;
        return new Timings(firstTokens - start, end - firstTokens, steps);
    }
}
