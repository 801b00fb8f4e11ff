package io.mistralflink.model.sampling;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The sampler against a plain full-sort implementation of temperature, top-k, top-p and min-p, and against the law it draws from. */
class SamplerTest {
    /** Full sort by logit (ties by id), softmax with temperature, cut by top-k, top-p then min-p (Hugging Face's order), one uniform draw. */
    private static int reference(float[] logits, SamplingParams p, double u) {
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = p.topK() > 0 ? Math.min(p.topK(), logits.length) : logits.length;
        double max = logits[order[0]], total = 0;
        double[] w = new double[keep];
        for (int i = 0; i < keep; i++) total += w[i] = Math.exp((logits[order[i]] - max) / p.temperature());
        int n = keep;
        if (p.topP() < 1) {
            double cum = 0;
            n = 0;
            while (n < keep && cum / total < p.topP()) cum += w[n++];
        }
        // HF's MinPLogitsWarper: keep probability >= min_p * the largest; w[0] is the largest, 1.
        int passing = 0;
        while (passing < n && w[passing] >= p.minP() * w[0]) passing++;
        n = Math.max(1, passing);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += w[i];
        double target = u * sum, cum = 0;
        for (int i = 0; i < n; i++) if (target < (cum += w[i])) return order[i];
        return order[n - 1];
    }

    @Test void agreesWithAFullSortForEveryFilterCombination() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 400; trial++) {
            int vocab = trial % 2 == 0 ? 4096 : 32000;
            float[] logits = new float[vocab];
            double spread = 1 + r.nextInt(12);
            for (int i = 0; i < vocab; i++) logits[i] = (float) (r.nextGaussian() * spread);
            if (trial % 5 == 0) logits[7] = logits[11]; // a tie
            int[] ks = {0, 1, 40, 500};
            float[] ps = {1f, 0.9f, 0.5f, 0.999f};
            float[] minPs = {0f, 0.05f, 0.3f, 0.9f, 1f};
            SamplingParams p = new SamplingParams(0.3f + r.nextInt(15) / 10f, ps[trial % 4], ks[(trial / 4) % 4], minPs[(trial / 16) % 5],
                    trial, 8, false, List.of(), new int[0]);
            int step = trial % 9;
            double u = new SplittableRandom(Sampler.mix(p.seed(), step)).nextDouble();
            assertEquals(reference(logits, p, u), Sampler.sample(logits, 0, vocab, p, step), "trial " + trial + " " + p);
        }
    }

    /**
     * min_p as a law: over 200,000 seeded draws from a 60-token row, no token below min_p x the largest
     * probability is ever drawn, and the frequencies of the others match the renormalised distribution
     * (chi-square below its 1e-4 critical value), alone and with top-k and top-p.
     */
    @Test void minPDrawsOnlyAboveTheThresholdWithTheRenormalisedFrequencies() {
        SplittableRandom r = new SplittableRandom(11);
        float[] logits = new float[60];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 2);
        int draws = 200_000;
        for (float[] c : new float[][]{{1f, 1f, 0, 0.05f}, {0.7f, 1f, 0, 0.2f}, {1.3f, 0.9f, 0, 0.1f}, {1f, 1f, 20, 0.02f}, {2f, 0.95f, 30, 0.5f}}) {
            SamplingParams p = new SamplingParams(c[0], c[1], (int) c[2], c[3], 99, 8, false, List.of(), new int[0]);
            double[] law = law(logits, p);
            long[] seen = new long[logits.length];
            for (int step = 0; step < draws; step++) seen[Sampler.sample(logits, 0, logits.length, p, step)]++;
            double chi2 = 0;
            int kept = 0;
            for (int i = 0; i < logits.length; i++) {
                if (law[i] == 0) {
                    assertEquals(0, seen[i], "token " + i + " is outside the kept set of " + p + " but was drawn");
                    continue;
                }
                kept++;
                double expected = law[i] * draws;
                chi2 += (seen[i] - expected) * (seen[i] - expected) / expected;
            }
            int df = kept - 1;
            assertTrue(df >= 1, "a case that keeps one token tests nothing: " + p);
            // Wilson-Hilferty: the chi-square quantile at 1 - 1e-4 (z = 3.719)
            double crit = df * Math.pow(1 - 2.0 / (9 * df) + 3.719 * Math.sqrt(2.0 / (9 * df)), 3);
            assertTrue(chi2 < crit, p + ": chi-square " + chi2 + " over " + df + " degrees of freedom, critical " + crit);
        }
    }

    /**
     * The law of a draw, computed independently: probabilities after temperature, the top-k most likely,
     * the smallest top-p prefix, those at least min_p x the largest; renormalised.
     */
    private static double[] law(float[] logits, SamplingParams p) {
        int v = logits.length;
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        double[] prob = new double[v];
        double z = 0;
        for (int i = 0; i < v; i++) z += prob[i] = Math.exp(logits[i] / (double) p.temperature());
        for (int i = 0; i < v; i++) prob[i] /= z;
        boolean[] keep = new boolean[v];
        int k = p.topK() > 0 ? p.topK() : v;
        double kMass = 0, cum = 0;
        for (int j = 0; j < k; j++) kMass += prob[order[j]];
        for (int j = 0; j < k && (j == 0 || cum / kMass < p.topP()); j++) {
            keep[order[j]] = prob[order[j]] >= p.minP() * prob[order[0]];
            cum += prob[order[j]];
        }
        double kept = 0;
        for (int i = 0; i < v; i++) if (keep[i]) kept += prob[i];
        double[] law = new double[v];
        for (int i = 0; i < v; i++) law[i] = keep[i] ? prob[i] / kept : 0;
        return law;
    }

    /** min_p 0 draws exactly what the sampler drew before min_p existed (its code, kept here as the oracle). */
    @Test void minPZeroDrawsWhatTheSamplerDrewBefore() {
        SplittableRandom r = new SplittableRandom(5);
        float[] ps = {1f, 0.9f, 0.5f, 0.999f, 1e-6f};
        int[] ks = {0, 1, 40, 500, 5000};
        for (int trial = 0; trial < 600; trial++) {
            int vocab = trial % 3 == 0 ? 32000 : trial % 3 == 1 ? 4096 : 9;
            float[] logits = new float[vocab];
            double spread = 1 + r.nextInt(12);
            for (int i = 0; i < vocab; i++) logits[i] = (float) (r.nextGaussian() * spread);
            if (trial % 7 == 0) logits[3] = logits[5];
            SamplingParams p = new SamplingParams(trial % 10 == 0 ? 0f : 0.2f + r.nextInt(20) / 10f, ps[r.nextInt(ps.length)],
                    ks[r.nextInt(ks.length)], 0f, r.nextLong(), 8, false, List.of(), new int[0]);
            int step = r.nextInt(1000);
            assertEquals(before(logits, 0, vocab, p, step), Sampler.sample(logits, 0, vocab, p, step), "trial " + trial + " " + p);
        }
    }

    /** Sampler.sample as it was before min_p (commit e39c0af), verbatim. */
    private static int before(float[] logits, int offset, int vocab, SamplingParams p, int step) {
        if (p.greedyDecoding()) return Sampler.argmax(logits, offset, vocab);
        double u = Sampler.uniform(p.seed(), step);
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        float max = logits[offset + Sampler.argmax(logits, offset, vocab)];
        double invT = 1.0 / p.temperature();
        for (int m = Math.min(keep, 64); ; m = Math.min(keep, m * 4)) {
            int[] top = Sampler.top(logits, offset, vocab, m);
            double[] w = new double[m];
            double mass = 0;
            for (int i = 0; i < m; i++) mass += w[i] = Math.exp((logits[offset + top[i]] - max) * invT);
            double total = mass;
            if (m < keep) {
                total = 0;
                if (keep == vocab) for (int i = 0; i < vocab; i++) total += Math.exp((logits[offset + i] - max) * invT);
                else total = Double.NaN;
            }
            int n = m;
            if (p.topP() < 1f && !Double.isNaN(total)) {
                double cum = 0;
                n = 0;
                while (n < m && cum / total < p.topP()) cum += w[n++];
                if (cum / total < p.topP() && m < keep) continue;
            } else if (m < keep) {
                continue;
            }
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

    @Test void minPOutsideZeroToOneIsRefusedInOneLine() {
        for (float bad : new float[]{-0.01f, 1.01f, Float.NaN, Float.POSITIVE_INFINITY}) {
            var e = assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 1f, 0, bad, 1, 8, false, List.of(), new int[0]));
            assertEquals("min_p must be in [0, 1], got " + bad, e.getMessage());
        }
        assertEquals(1f, new SamplingParams(1f, 1f, 0, 1f, 1, 8, false, List.of(), new int[0]).minP());
    }

    @Test void topOrdersByLogitThenId() {
        float[] v = {1f, 3f, -2f, 3f, 0f, -0f, Float.NEGATIVE_INFINITY, 2.5f};
        assertArrayEquals(new int[]{1, 3, 7, 0, 4, 5, 2, 6}, Sampler.top(v, 0, v.length, v.length));
        assertArrayEquals(new int[]{1, 3, 7}, Sampler.top(v, 0, v.length, 3));
    }
}
