package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.AttentionBatch.Segment;
import jdk.incubator.vector.FloatVector;

import static io.mistralflink.model.compute.cpu.MatMul.F;
import static io.mistralflink.model.compute.cpu.MatMul.L;

/**
 * Grouped-query attention with a sliding window, over a rolling cache. A segment holds positions
 * [p, p+n) of one sequence; its cache holds positions before p (at most W of them). The query at
 * position i sees keys i-W+1 .. i: those before p come from the cache, the rest from the segment's
 * fresh keys. Only after every query is done do the fresh keys overwrite their slots, since a chunk's
 * early queries still need the slots its late keys will take.
 */
final class SlidingWindowKernel {
    private SlidingWindowKernel() {}

    static void run(Parallel parallel, float[] q, float[] k, float[] v, float[] out, AttentionBatch b, int layer) {
        int total = 0;
        for (Segment s : b.segments()) total += s.length();
        int rows = total;
        Segment[] segOfRow = new Segment[rows];
        for (Segment s : b.segments()) for (int i = 0; i < s.length(); i++) segOfRow[s.offset() + i] = s;
        for (Segment s : b.segments()) ((RollingKvCache) s.cache()).reserve(s.start() + s.length());

        int heads = b.heads(), headDim = b.headDim(), group = heads / b.kvHeads(), kvDim = b.kvHeads() * headDim;
        int work = rows * heads, window = b.window();
        float scale = (float) (1.0 / Math.sqrt(headDim));
        parallel.range(work, Math.max(1, 4096 / (Math.min(window, 512) * headDim / 16 + 1)), (from, to) -> {
            float[] scores = new float[0], acc = new float[headDim], lanes = new float[L];
            for (int w = from; w < to; w++) {
                // Head-major: neighbouring items share a key/value head, so its window stays in cache
                // across the queries that read it, instead of every head's window in turn.
                int h = w / rows, row = w % rows, kvOff = (h / group) * headDim;
                Segment s = segOfRow[row];
                RollingKvCache cache = (RollingKvCache) s.cache();
                float[] ck = cache.keys[layer], cv = cache.values[layer];
                int pos = s.start() + row - s.offset(), lo = Math.max(0, pos - window + 1), n = pos - lo + 1;
                if (scores.length < n) scores = new float[Math.max(n, 64)];
                int qo = row * heads * headDim + h * headDim;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = lo; j <= pos; j++) {
                    float dot = j < s.start()
                            ? dot(q, qo, ck, cache.slot(j) * kvDim + kvOff, headDim, lanes)
                            : dot(q, qo, k, (s.offset() + j - s.start()) * kvDim + kvOff, headDim, lanes);
                    float sc = dot * scale;
                    scores[j - lo] = sc;
                    if (sc > max) max = sc;
                }
                float sum = 0;
                for (int j = 0; j < n; j++) sum += scores[j] = (float) Math.exp(scores[j] - max);
                java.util.Arrays.fill(acc, 0f);
                for (int j = lo; j <= pos; j++) {
                    float p = scores[j - lo] / sum;
                    if (j < s.start()) axpy(p, cv, cache.slot(j) * kvDim + kvOff, acc, headDim);
                    else axpy(p, v, (s.offset() + j - s.start()) * kvDim + kvOff, acc, headDim);
                }
                System.arraycopy(acc, 0, out, qo, headDim);
            }
        });

        for (Segment s : b.segments()) {
            RollingKvCache cache = (RollingKvCache) s.cache();
            int first = Math.max(0, s.length() - window);
            for (int i = first; i < s.length(); i++) {
                int dst = cache.slot(s.start() + i) * kvDim, src = (s.offset() + i) * kvDim;
                System.arraycopy(k, src, cache.keys[layer], dst, kvDim);
                System.arraycopy(v, src, cache.values[layer], dst, kvDim);
            }
        }
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int n, float[] lanes) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (; i + L <= n; i += L) acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        float s = MatMul.sum(acc, lanes);
        for (; i < n; i++) s = Math.fma(a[ao + i], b[bo + i], s);
        return s;
    }

    private static void axpy(float p, float[] x, int xo, float[] acc, int n) {
        int i = 0;
        for (; i + L <= n; i += L)
            FloatVector.fromArray(F, x, xo + i).fma(FloatVector.broadcast(F, p), FloatVector.fromArray(F, acc, i)).intoArray(acc, i);
        for (; i < n; i++) acc[i] = Math.fma(x[xo + i], p, acc[i]);
    }
}
