package io.mistralflink.model.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits. The random draw for (request, step) comes from a
 * generator seeded by the request's seed and the step alone, so a replayed or restored step draws
 * the same token as the first time.
 */
public final class Sampler {
    private Sampler() {}

    public static int sample(float[] logits, int offset, int vocab, SamplingParams p, int step) {
        if (p.greedyDecoding()) return argmax(logits, offset, vocab);
        double u = new SplittableRandom(mix(p.seed(), step)).nextDouble();

        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(logits[offset + b], logits[offset + a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        double max = logits[offset + order[0]];
        double[] prob = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += prob[i] = Math.exp((logits[offset + order[i]] - max) / p.temperature());
        if (p.topP() < 1f) {
            double cum = 0;
            int n = 0;
            while (n < keep) {
                cum += prob[n++] / sum;
                if (cum >= p.topP()) break;
            }
            keep = n;
            sum = 0;
            for (int i = 0; i < keep; i++) sum += prob[i];
        }
        double target = u * sum, cum = 0;
        for (int i = 0; i < keep; i++) {
            cum += prob[i];
            if (target < cum) return order[i];
        }
        return order[keep - 1];
    }

    public static int argmax(float[] v, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
        return best;
    }

    /** A 64-bit mix of (seed, step) (SplitMix64 finaliser), so neighbouring steps get unrelated streams. */
    static long mix(long seed, int step) {
        long z = seed + 0x9E3779B97F4A7C15L * (step + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
