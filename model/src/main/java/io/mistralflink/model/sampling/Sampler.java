package io.mistralflink.model.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits. The random draw for (request, step) comes from a
 * generator seeded by the request's seed and the step alone, so a replayed or restored step draws
 * the same token as the first time.
 *
 * <p>Candidates are ordered by logit (ties by token id) and only as many as top-k, top-p and min-p
 * need are ordered: the most likely 64 first, four times more while their mass falls short of top-p
 * and min-p keeps them all.
 */
public final class Sampler {
    private static final int FIRST_CANDIDATES = 64;

    private Sampler() {}

    public static int sample(float[] logits, int offset, int vocab, SamplingParams p, int step) {
        if (p.greedyDecoding()) return argmax(logits, offset, vocab);
        double u = uniform(p.seed(), step);
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        float max = logits[offset + argmax(logits, offset, vocab)];
        double invT = 1.0 / p.temperature();
        for (int m = Math.min(keep, FIRST_CANDIDATES); ; m = Math.min(keep, m * 4)) {
            int[] top = top(logits, offset, vocab, m);
            double[] w = new double[m];
            double mass = 0;
            for (int i = 0; i < m; i++) mass += w[i] = Math.exp((logits[offset + top[i]] - max) * invT);
            // The mass top-p is measured against: the kept set, which is the whole vocabulary without top-k.
            double total = mass;
            if (m < keep) {
                total = 0;
                if (keep == vocab) for (int i = 0; i < vocab; i++) total += Math.exp((logits[offset + i] - max) * invT);
                else total = Double.NaN; // top-k larger than m: widen until m == keep
            }
            // Filters in Hugging Face's order (top-k, top-p, min-p), each keeping a prefix of the candidates.
            int n = m;
            boolean wider = m < keep; // whether a later candidate could still be kept
            if (p.topP() < 1f) {
                if (Double.isNaN(total)) continue; // top-k larger than m: widen until m == keep
                double cum = 0;
                n = 0;
                while (n < m && cum / total < p.topP()) cum += w[n++];
                wider = cum / total < p.topP() && m < keep; // not enough mass yet
            }
            // min-p: the candidates at least min-p times as likely as the first (whose weight is 1).
            if (p.minP() > 0) {
                int passing = 0;
                while (passing < n && w[passing] >= p.minP()) passing++;
                if (passing < m) wider = false; // the threshold falls among these candidates: no later one passes
                n = Math.min(n, passing);
            }
            if (wider) continue;
            double sum = 0;
            for (int i = 0; i < n; i++) sum += w[i];
            double target = u * sum, cum = 0;
            for (int i = 0; i < n; i++) {
                cum += w[i];
                if (target < cum) return top[i];
            }
            return top[n - 1];
        }
    }

    /** Indices of the m largest logits, largest first, ties to the lower index. */
    static int[] top(float[] v, int off, int n, int m) {
        if (m >= n / 4) {
            long[] keys = new long[n];
            for (int i = 0; i < n; i++) keys[i] = key(v[off + i], i);
            Arrays.sort(keys);
            int[] out = new int[m];
            for (int i = 0; i < m; i++) out[i] = (int) (keys[i] & 0xffffffffL);
            return out;
        }
        // A bounded sorted buffer: cheap while m is small next to n.
        long[] best = new long[m];
        Arrays.fill(best, Long.MAX_VALUE);
        for (int i = 0; i < n; i++) {
            long k = key(v[off + i], i);
            if (k >= best[m - 1]) continue;
            int at = Arrays.binarySearch(best, k);
            at = -at - 1;
            System.arraycopy(best, at, best, at + 1, m - 1 - at);
            best[at] = k;
        }
        int[] out = new int[m];
        for (int i = 0; i < m; i++) out[i] = (int) (best[i] & 0xffffffffL);
        return out;
    }

    /** Sorts ascending as logits sort descending, then by index: the float's bits made order-preserving, then inverted. */
    private static long key(float logit, int index) {
        int bits = Float.floatToRawIntBits(logit);
        int ordered = bits >= 0 ? bits : bits ^ 0x7fffffff;
        return ((long) ~ordered << 32) | index;
    }

    /** -log softmax(logits[offset .. offset+vocab))[target], in double: a teacher-forced position's loss. */
    public static double nll(float[] logits, int offset, int vocab, int target) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i] - max);
        return max + Math.log(sum) - logits[offset + target];
    }

    public static int argmax(float[] v, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
        return best;
    }

    /**
     * The draw in [0, 1) for (seed, step): a {@link SplittableRandom} seeded by their {@code mix}. The
     * CUDA backend draws its tokens with it too.
     */
    public static double uniform(long seed, int step) {
        return new SplittableRandom(mix(seed, step)).nextDouble();
    }

    /** A 64-bit mix of (seed, step) (SplitMix64 finaliser), so neighbouring steps get unrelated streams. */
    static long mix(long seed, int step) {
        long z = seed + 0x9E3779B97F4A7C15L * (step + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
