package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;

import java.util.Arrays;

/**
 * Mixtral's sparse feed-forward: a router scores the experts for each token, the top k are kept, their
 * scores softmaxed over those k, and the token's output is the weighted sum of the k experts' outputs.
 * Each expert runs once per step over the rows routed to it.
 */
record MixtureOfExperts(Linear router, FeedForward[] experts, int topK) {

    Activation apply(Backend b, Activation x) {
        int rows = x.rows(), n = experts.length;
        Activation routed = router.apply(b, x);
        float[] logits = b.download(routed);
        b.release(routed);
        int[][] rowsOf = new int[n][rows];
        float[][] weightsOf = new float[n][rows];
        int[] count = new int[n];
        for (int r = 0; r < rows; r++) {
            int[] chosen = topK(logits, r * n, n, topK);
            double max = logits[r * n + chosen[0]], sum = 0;
            double[] w = new double[topK];
            for (int i = 0; i < topK; i++) sum += w[i] = Math.exp(logits[r * n + chosen[i]] - max);
            for (int i = 0; i < topK; i++) {
                int e = chosen[i];
                rowsOf[e][count[e]] = r;
                weightsOf[e][count[e]++] = (float) (w[i] / sum);
            }
        }
        Activation out = b.allocate(rows, x.cols());
        for (int e = 0; e < n; e++) {
            if (count[e] == 0) continue;
            int[] sel = Arrays.copyOf(rowsOf[e], count[e]);
            Activation xe = b.allocate(sel.length, x.cols());
            b.gatherRows(x, sel, xe);
            Activation ye = experts[e].apply(b, xe);
            b.release(xe);
            b.scatterAddRows(ye, sel, Arrays.copyOf(weightsOf[e], count[e]), out);
            b.release(ye);
        }
        return out;
    }

    /** Indices of the k largest of v[off .. off+n), largest first; ties go to the lower index. */
    static int[] topK(float[] v, int off, int n, int k) {
        int[] idx = new int[k];
        boolean[] taken = new boolean[n];
        for (int i = 0; i < k; i++) {
            int best = -1;
            for (int e = 0; e < n; e++)
                if (!taken[e] && (best < 0 || v[off + e] > v[off + best])) best = e;
            taken[best] = true;
            idx[i] = best;
        }
        return idx;
    }
}
