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
import java.util.function.Function;

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
        int steps = 0;
        try {
            while (!active.isEmpty()) {
                step(active, caches::get);
                steps++;
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

    /**
     * One step of continuous batching over {@code active} (the planner's choice within the token budget):
     * feeds the chosen tokens, samples where a step reaches a sequence's newest token, and advances the
     * sequences. Finished sequences stay in the list for the caller to take out. Returns the tokens fed.
     */
    public int step(List<Sequence> active, Function<Sequence, KvCache> cacheOf) {
        List<StepPlanner.Entry> step = StepPlanner.plan(active, maxBatchTokens, model.config().window());
        List<Chunk> chunks = new ArrayList<>(step.size());
        SamplingParams[] params = new SamplingParams[step.size()];
        int[] draws = new int[step.size()];
        int fed = 0;
        for (int i = 0; i < step.size(); i++) {
            StepPlanner.Entry e = step.get(i);
            chunks.add(new Chunk(cacheOf.apply(e.sequence()), e.start(), e.tokens(), e.samples() ? Chunk.Logits.LAST : Chunk.Logits.NONE));
            if (e.samples()) params[i] = e.sequence().params();
            draws[i] = e.sequence().step();
            fed += e.tokens().length;
        }
        if (chunks.isEmpty()) return 0;
        // The backend picks the tokens (on a GPU, only their ids come back).
        int[] next = model.sample(chunks, null, params, draws);
        for (int i = 0; i < step.size(); i++) {
            StepPlanner.Entry e = step.get(i);
            e.sequence().advance(e.tokens().length);
            if (e.samples()) e.sequence().append(next[i], tokenizer);
        }
        return fed;
    }
}
