package io.mistralflink.model.bench;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Prefill and decode throughput of the engine alone, per batch size, after a warm-up: b random
 * prompts of p tokens are prefilled together, then each decodes n tokens (EOS ignored).
 */
public final class Bench {
    public record Result(int batch, double prefillTokPerS, double decodeTokPerS, double prefillFlopPerS) {}

    private static final long WARM_UP_NANOS = 8_000_000_000L;
    /** The measured shape itself is run for at least this long first (at least once, at most 16 times). */
    private static final long SHAPE_WARM_UP_NANOS = 3_000_000_000L;
    /**
     * Then measured for at least this long (at least once, at most 15 times), reporting the median run: a
     * 128-token tiny-mistral prefill takes 20 ms, and one pause of the machine moved a single run by 2x.
     */
    private static final long MEASURE_NANOS = 2_000_000_000L;

    private Bench() {}

    public static List<Result> run(Shard model, Tokenizer tokenizer, int[] batchSizes, int promptTokens, int newTokens) {
        List<Result> out = new ArrayList<>();
        // Warm-up: the Vector API kernels are slow until C2 has compiled them, which takes thousands of calls.
        long warmUntil = System.nanoTime() + WARM_UP_NANOS;
        for (int i = 0; i < 2 || System.nanoTime() < warmUntil; i++) once(model, tokenizer, 1 + i % 4, 32, 32);
        for (int b : batchSizes) {
            // ...and a kernel first reached by the measured shape (a prompt longer than the window reads the
            // cache in its second chunk) is deoptimized and recompiled there: tiny-mistral's 128-token prefill
            // ran at 1,900 tok/s in its first runs and at 5,100 from about the tenth.
            long shapeUntil = System.nanoTime() + SHAPE_WARM_UP_NANOS;
            for (int i = 0; i < 16 && (i == 0 || System.nanoTime() < shapeUntil); i++) once(model, tokenizer, b, promptTokens, Math.min(newTokens, 4));
            List<Long> prefill = new ArrayList<>(), decode = new ArrayList<>();
            long measureUntil = System.nanoTime() + MEASURE_NANOS;
            for (int i = 0; i < 15 && (i == 0 || System.nanoTime() < measureUntil); i++) {
                Generator.Timings t = once(model, tokenizer, b, promptTokens, newTokens);
                prefill.add(t.prefillNanos());
                decode.add(t.decodeNanos());
            }
            double prefillS = median(prefill) / 1e9;
            out.add(new Result(b, b * (double) promptTokens / prefillS,
                    newTokens > 1 ? b * (double) (newTokens - 1) / (median(decode) / 1e9) : 0,
                    Flops.prefill(model.config(), b, promptTokens) / prefillS));
        }
        return out;
    }

    /** The median of the runs (the lower middle one of an even count). */
    static long median(List<Long> nanos) {
        List<Long> sorted = new ArrayList<>(nanos);
        sorted.sort(null);
        return sorted.get((sorted.size() - 1) / 2);
    }

    /**
     * The fewest bytes a decode step of {@code batch} sequences reads, averaged over {@code steps} steps that start
     * after {@code promptTokens} tokens: the weights once, and each sequence's keys and values within the window
     * ({@code cacheValueBytes} each) in every layer. A device streaming B bytes a second decodes at most
     * batch x B / that many tokens a second: the bandwidth bound.
     */
    public static double decodeBytesPerStep(ModelConfig c, double weightBytes, int batch, int promptTokens, int steps, int cacheValueBytes) {
        double keys = 0;
        for (int i = 0; i < steps; i++) keys += Math.min(c.window(), promptTokens + i + 1);
        return weightBytes + batch * keys / Math.max(1, steps) * c.layers() * 2.0 * c.kvDim() * cacheValueBytes;
    }

    /** Greedy decoding that ignores EOS, so every sequence runs to its length. */
    public static SamplingParams toLength(int newTokens) {
        return new SamplingParams(0f, 1f, 0, 0, newTokens, true, List.of(), new int[0]);
    }

    /** n prompts of exactly promptTokens random tokens after BOS. */
    public static int[][] randomPrompts(ModelConfig c, int n, int promptTokens, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] out = new int[n][promptTokens];
        for (int[] prompt : out) {
            prompt[0] = c.bosId();
            for (int j = 1; j < promptTokens; j++) prompt[j] = 3 + r.nextInt(c.vocabSize() - 3);
        }
        return out;
    }

    private static Generator.Timings once(Shard model, Tokenizer tokenizer, int batch, int promptTokens, int newTokens) {
        ModelConfig c = model.config();
        List<Sequence> seqs = new ArrayList<>();
        int[][] prompts = randomPrompts(c, batch, promptTokens, batch * 31L + promptTokens);
        for (int i = 0; i < batch; i++) seqs.add(new Sequence("bench-" + i, prompts[i], toLength(newTokens), c.eosId(), c.maxPositions()));
        // The whole batch's prompts in one step, so prefill time is that step and nothing else.
        return new Generator(model, tokenizer, Math.max(batch * Math.min(promptTokens, c.window()), batch)).run(seqs);
    }
}
