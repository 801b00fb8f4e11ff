package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.AttentionBatch.Segment;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The blocked attention kernel against attention in double over the whole history with an explicit
 * window, for windows shorter and longer than the sequence, with flat and sharp softmaxes; and, bit for bit, a query's output
 * whatever the chunks its sequence is fed in (cache or fresh keys) and whatever segment shares its batch.
 */
class SlidingWindowKernelTest {
    private static final int HEADS = 8, KV_HEADS = 2, HEAD_DIM = 48, KV_DIM = KV_HEADS * HEAD_DIM;

    @Test void matchesDoubleAttentionAndIgnoresChunksAndBatchMates() {
        Random rnd = new Random(17);
        try (Parallel parallel = new Parallel(2)) {
            int[] windows = {5, 16, 37, 4096, 37, 4096};
            for (int c = 0; c < windows.length; c++) {
                int n = 150, window = windows[c];
                float[] q = gaussian(rnd, n * HEADS * HEAD_DIM), k = gaussian(rnd, n * KV_DIM), v = gaussian(rnd, n * KV_DIM);
                // the last cases: sharp softmaxes (scores of standard deviation 6), whose running max jumps often
                if (c >= 4) for (int i = 0; i < q.length; i++) q[i] *= 6;
                float[] mateQ = gaussian(rnd, 40 * HEADS * HEAD_DIM), mateK = gaussian(rnd, 40 * KV_DIM), mateV = gaussian(rnd, 40 * KV_DIM);
                float[] onePass = run(parallel, window, q, k, v, new int[]{n}, null, null, null);
                float[] chunked = run(parallel, window, q, k, v, new int[]{1, 7, 16, 33, 2, 91}, null, null, null);
                float[] withMate = run(parallel, window, q, k, v, new int[]{20, 1, 129}, mateQ, mateK, mateV);
                for (int pos = 0; pos < n; pos++)
                    for (int h = 0; h < HEADS; h++) {
                        int kvOff = (h / (HEADS / KV_HEADS)) * HEAD_DIM, lo = Math.max(0, pos - window + 1);
                        double[] s = new double[pos - lo + 1];
                        double max = Double.NEGATIVE_INFINITY, sum = 0;
                        for (int j = lo; j <= pos; j++) {
                            double dot = 0;
                            for (int d = 0; d < HEAD_DIM; d++) dot += (double) q[(pos * HEADS + h) * HEAD_DIM + d] * k[j * KV_DIM + kvOff + d];
                            s[j - lo] = dot / Math.sqrt(HEAD_DIM);
                            max = Math.max(max, s[j - lo]);
                        }
                        for (int j = 0; j < s.length; j++) sum += s[j] = Math.exp(s[j] - max);
                        for (int d = 0; d < HEAD_DIM; d++) {
                            double ref = 0;
                            for (int j = lo; j <= pos; j++) ref += s[j - lo] / sum * v[j * KV_DIM + kvOff + d];
                            int at = (pos * HEADS + h) * HEAD_DIM + d;
                            String where = "window " + window + ", position " + pos + ", head " + h + ", dim " + d;
                            assertEquals(ref, onePass[at], 2e-5, where);
                            assertEquals(Float.floatToRawIntBits(onePass[at]), Float.floatToRawIntBits(chunked[at]), where + ": chunks changed it");
                            assertEquals(Float.floatToRawIntBits(onePass[at]), Float.floatToRawIntBits(withMate[at]), where + ": a batch-mate changed it");
                        }
                    }
            }
        }
    }

    /** The sequence's outputs, fed in the given chunks; with a mate, each step also carries 40 rows of another sequence first. */
    private static float[] run(Parallel parallel, int window, float[] q, float[] k, float[] v, int[] chunks, float[] mq, float[] mk, float[] mv) {
        int n = 0;
        for (int c : chunks) n += c;
        float[] out = new float[n * HEADS * HEAD_DIM];
        RollingKvCache cache = new RollingKvCache(1, window, KV_DIM);
        int start = 0;
        for (int c : chunks) {
            int mate = mq == null ? 0 : 40, rows = mate + c;
            float[] bq = new float[rows * HEADS * HEAD_DIM], bk = new float[rows * KV_DIM], bv = new float[rows * KV_DIM], bo = new float[bq.length];
            List<Segment> segs = new ArrayList<>();
            if (mate > 0) {
                System.arraycopy(mq, 0, bq, 0, mate * HEADS * HEAD_DIM);
                System.arraycopy(mk, 0, bk, 0, mate * KV_DIM);
                System.arraycopy(mv, 0, bv, 0, mate * KV_DIM);
                segs.add(new Segment(new RollingKvCache(1, window, KV_DIM), 0, mate, 0));
            }
            System.arraycopy(q, start * HEADS * HEAD_DIM, bq, mate * HEADS * HEAD_DIM, c * HEADS * HEAD_DIM);
            System.arraycopy(k, start * KV_DIM, bk, mate * KV_DIM, c * KV_DIM);
            System.arraycopy(v, start * KV_DIM, bv, mate * KV_DIM, c * KV_DIM);
            segs.add(new Segment(cache, mate, c, start));
            SlidingWindowKernel.run(parallel, bq, bk, bv, bo, new AttentionBatch(HEADS, KV_HEADS, HEAD_DIM, window, segs), 0);
            System.arraycopy(bo, mate * HEADS * HEAD_DIM, out, start * HEADS * HEAD_DIM, c * HEADS * HEAD_DIM);
            start += c;
        }
        return out;
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}
