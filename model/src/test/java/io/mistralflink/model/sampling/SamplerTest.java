package io.mistralflink.model.sampling;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The sampler against a plain full-sort implementation of temperature, top-k and top-p. */
class SamplerTest {
    /** Full sort by logit (ties by id), softmax with temperature, cut by top-k then top-p, one uniform draw. */
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
        double sum = 0;
        for (int i = 0; i < n; i++) sum += w[i];
        double target = u * sum, cum = 0;
        for (int i = 0; i < n; i++) if (target < (cum += w[i])) return order[i];
        return order[n - 1];
    }

    @Test void agreesWithAFullSortForEveryFilterCombination() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 300; trial++) {
            int vocab = trial % 2 == 0 ? 4096 : 32000;
            float[] logits = new float[vocab];
            double spread = 1 + r.nextInt(12);
            for (int i = 0; i < vocab; i++) logits[i] = (float) (r.nextGaussian() * spread);
            if (trial % 5 == 0) logits[7] = logits[11]; // a tie
            int[] ks = {0, 1, 40, 500};
            float[] ps = {1f, 0.9f, 0.5f, 0.999f};
            SamplingParams p = new SamplingParams(0.3f + r.nextInt(15) / 10f, ps[trial % 4], ks[(trial / 4) % 4], trial, 8, false, List.of(), new int[0]);
            int step = trial % 9;
            double u = new SplittableRandom(Sampler.mix(p.seed(), step)).nextDouble();
            assertEquals(reference(logits, p, u), Sampler.sample(logits, 0, vocab, p, step), "trial " + trial + " " + p);
        }
    }

    @Test void topOrdersByLogitThenId() {
        float[] v = {1f, 3f, -2f, 3f, 0f, -0f, Float.NEGATIVE_INFINITY, 2.5f};
        assertArrayEquals(new int[]{1, 3, 7, 0, 4, 5, 2, 6}, Sampler.top(v, 0, v.length, v.length));
        assertArrayEquals(new int[]{1, 3, 7}, Sampler.top(v, 0, v.length, 3));
    }
}
