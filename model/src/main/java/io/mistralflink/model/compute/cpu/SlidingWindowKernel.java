package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.AttentionBatch.Segment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

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
        int rows = 0;
        for (Segment s : b.segments()) rows += s.length();
        for (Segment s : b.segments()) ((RollingKvCache) s.cache()).reserve(s.start() + s.length());

        int heads = b.heads(), headDim = b.headDim(), group = heads / b.kvHeads(), kvDim = b.kvHeads() * headDim;
        int window = b.window();
        float scale = (float) (1.0 / Math.sqrt(headDim));
        // Items: a key/value head's block of up to QUERIES consecutive rows of one segment, for all the query
        // heads that share it (each key block is transposed once for them all), kv-head-major, so that
        // neighbouring items (and each thread's chunk) share a key/value head and its window stays in cache.
        int blocks = 0;
        for (Segment s : b.segments()) blocks += (s.length() + QUERIES - 1) / QUERIES;
        int[] blockSeg = new int[blocks], blockFirst = new int[blocks];
        int at = 0;
        for (int si = 0; si < b.segments().size(); si++)
            for (int i = 0; i < b.segments().get(si).length(); i += QUERIES) { blockSeg[at] = si; blockFirst[at++] = i; }
        int perBlock = blocks;
        // as many items per chunk as make a chunk worth a thread hand-off (about 4096 query x key x 16 dims)
        int grain = Math.max(1, 4096 * Math.max(1, blocks) / Math.max(1, rows) / group / (Math.min(window, 512) * headDim / 16 + 1));
        parallel.range(b.kvHeads() * blocks, grain, (from, to) -> {
            Scratch sc = SCRATCH.get();
            for (int w = from; w < to; w++) {
                int g = w / perBlock, blk = w % perBlock;
                Segment s = b.segments().get(blockSeg[blk]);
                int first = blockFirst[blk], nq = Math.min(QUERIES, s.length() - first);
                block(q, k, v, out, s, first, nq, g, group, layer, heads, headDim, kvDim, window, scale, sc);
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

    /** Queries per item: they share each transposed block of keys. */
    private static final int QUERIES = 16;

    /**
     * Per thread: a block of keys transposed (headDim x L), the queries' scores for it, their running max, their sums
     * (a vector each: lane c adds the keys at c mod L) and output.
     */
    private static final class Scratch {
        float[] keysT = new float[0], scores = new float[0], max = new float[0], sum = new float[0], acc = new float[0];
        /** The block's keys' values: the array (cache or fresh) and offset of each, found once per block, not per query. */
        final float[][] vSrc = new float[L][];
        final int[] vOff = new int[L];
        /** The values of the keys outside every window of a block (their weights are 0). */
        float[] zeros = new float[0];

        void fit(int headDim, int queries) {
            if (keysT.length < headDim * L) { keysT = new float[headDim * L]; zeros = new float[headDim]; }
            if (scores.length < queries * L) scores = new float[queries * L];
            if (max.length < queries) max = new float[queries];
            if (sum.length < queries * L) sum = new float[queries * L];
            if (acc.length < queries * headDim) acc = new float[queries * headDim];
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * The query heads of key/value head g, for the nq queries at rows first.. of segment s, in one pass over
     * the keys (online softmax, as FlashAttention). Keys come in blocks of L positions, aligned to multiples
     * of L from position 0, transposed once for all those heads so that one FMA adds a dimension's term to L
     * scores at once (no reduction across lanes). Per query and block: the running max rises to the block's
     * (the output and the sum so far are rescaled by exp(old - new) when it does), exp of each score against
     * it is added to the sum ({@link #softmax}), and the values are added weighted by those exps, in position order;
     * the output is divided by the sum at the end. Each block's values serve every query of the item while
     * they are in L1, where the two-pass version streamed the whole window once per query. A query's
     * arithmetic depends on its position and keys alone, not on the block, chunk or batch it shares (batch
     * and chunk invariance, bit for bit).
     */
    private static void block(float[] q, float[] k, float[] v, float[] out, Segment s, int first, int nq, int g, int group, int layer,
                              int heads, int headDim, int kvDim, int window, float scale, Scratch sc) {
        int kvOff = g * headDim;
        RollingKvCache cache = (RollingKvCache) s.cache();
        float[] ck = cache.keys[layer], cv = cache.values[layer];
        int pos0 = s.start() + first, last = pos0 + nq - 1, queries = group * nq;
        int lo0 = Math.max(0, pos0 - window + 1), base = lo0 - lo0 % L;
        sc.fit(headDim, queries);
        float[] kt = sc.keysT, scores = sc.scores, max = sc.max, sum = sc.sum, acc = sc.acc;
        java.util.Arrays.fill(max, 0, queries, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(sum, 0, queries * L, 0f);
        java.util.Arrays.fill(acc, 0, queries * headDim, 0f);
        for (int kb = base; kb <= last; kb += L) {
            // transpose keys kb .. kb+L-1 and note where their values lie (those outside the block's windows
            // are zero keys and zero values, which their weights of 0 leave out)
            for (int c = 0; c < L; c++) {
                int j = kb + c;
                if (j > last || j < lo0) {
                    for (int d = 0; d < headDim; d++) kt[d * L + c] = 0f;
                    sc.vSrc[c] = sc.zeros;
                    sc.vOff[c] = 0;
                    continue;
                }
                boolean cached = j < s.start();
                int o = (cached ? cache.slot(j) : s.offset() + j - s.start()) * kvDim + kvOff;
                float[] keys = cached ? ck : k;
                for (int d = 0; d < headDim; d++) kt[d * L + c] = keys[o + d];
                sc.vSrc[c] = cached ? cv : v;
                sc.vOff[c] = o;
            }
            // the block's queries that see some of these keys: i in [iFrom, iTo)
            int iFrom = Math.max(0, kb - pos0), iTo = Math.min(nq, kb + L - 1 + window - pos0);
            // (query i, head h) is score row hh * nq + i; a query's heads are neighbours in q, so for one
            // query (a decode step) its group of heads makes the four chains
            for (int hh = 0; hh < group; hh++) {
                int h = g * group + hh, i = iFrom;
                for (; i + 4 <= iTo; i += 4)
                    scores4(q, kt, headDim, (s.offset() + first + i) * heads * headDim + h * headDim, heads * headDim, scale, scores, (hh * nq + i) * L, L);
                if (i < iTo && nq == 1 && hh + 4 <= group) {
                    scores4(q, kt, headDim, (s.offset() + first) * heads * headDim + h * headDim, headDim, scale, scores, hh * L, L);
                    hh += 3;
                    continue;
                }
                for (; i < iTo; i++) score1(q, kt, headDim, (s.offset() + first + i) * heads * headDim + h * headDim, scale, scores, (hh * nq + i) * L);
            }
            // every row of the item at once where every query sees the block (rows hh * nq + i are contiguous)
            boolean allSee = iFrom == 0 && iTo == nq;
            if (allSee) softmax(scores, sum, max, acc, headDim, 0, queries, nq, pos0, kb, window);
            for (int hh = 0; hh < group; hh++) {
                if (!allSee) softmax(scores, sum, max, acc, headDim, hh * nq + iFrom, hh * nq + iTo, nq, pos0, kb, window);
                // The values weighted by the block's every lane, in key order: a key a query does not see adds
                // 0 x v, which leaves its sums as they were (they start at +0, so not even a zero's sign
                // changes), so a query's output is the same bits whichever rows it is grouped with.
                int i = iFrom;
                for (; i + 4 <= iTo; i += 4) weighted4(scores, (hh * nq + i) * L, sc.vSrc, sc.vOff, headDim, acc, (hh * nq + i) * headDim);
                for (; i < iTo; i++) weighted(scores, (hh * nq + i) * L, sc.vSrc, sc.vOff, headDim, acc, (hh * nq + i) * headDim);
            }
        }
        for (int hh = 0; hh < group; hh++)
            for (int i = 0; i < nq; i++) {
                int row = hh * nq + i, o = (s.offset() + first + i) * heads * headDim + (g * group + hh) * headDim, d = 0;
                float total = MatMul.sum(sum, row * L);
                FloatVector l = FloatVector.broadcast(F, total);
                for (; d + L <= headDim; d += L) FloatVector.fromArray(F, acc, row * headDim + d).div(l).intoArray(out, o + d);
                for (; d < headDim; d++) out[o + d] = acc[row * headDim + d] / total;
            }
    }

    /**
     * The online-softmax step of score rows [from, to) over the key block at kb (row hh * nq + i is query i, at position
     * pos0 + i, of head hh), four rows at a time: each row's running max rises to the block's, its sum and output are
     * rescaled by exp(old - new) when it does, and its scores become their exps against it (0 for the keys it does not
     * see), added to its sum: lane by lane, a vector of L partial sums added up in MatMul's fixed order at the end (a
     * scalar chain over the block's keys was a 16-add dependency per query and block).
     * A method of its own, too large (over 325 bytes of bytecode) for C2 to inline into {@link #block}: there, C2's
     * inlining budget (its node count) ran out before VectorExp, whose vectors were then boxed. Tiny-mistral's
     * attention (64 queries, window 64) took 0.17 ms a call inline and 0.12-0.14 ms here; the 7B shape's at 1,024
     * tokens 141-193 ms and 130-146 (AttnProbe, 2 threads, same runs).
     */
    private static void softmax(float[] scores, float[] sum, float[] max, float[] acc, int headDim, int from, int to,
                                int nq, int pos0, int kb, int window) {
        int row = from;
        for (; row + 4 <= to; row += 4) {
            VectorMask<Float> k0 = VectorMask.fromLong(F, seen(row, nq, pos0, kb, window)), k1 = VectorMask.fromLong(F, seen(row + 1, nq, pos0, kb, window));
            VectorMask<Float> k2 = VectorMask.fromLong(F, seen(row + 2, nq, pos0, kb, window)), k3 = VectorMask.fromLong(F, seen(row + 3, nq, pos0, kb, window));
            FloatVector s0 = v(scores, row * L), s1 = v(scores, (row + 1) * L), s2 = v(scores, (row + 2) * L), s3 = v(scores, (row + 3) * L);
            float m0 = Math.max(max[row], s0.reduceLanes(VectorOperators.MAX, k0)), m1 = Math.max(max[row + 1], s1.reduceLanes(VectorOperators.MAX, k1));
            float m2 = Math.max(max[row + 2], s2.reduceLanes(VectorOperators.MAX, k2)), m3 = Math.max(max[row + 3], s3.reduceLanes(VectorOperators.MAX, k3));
            VectorExp.exp(s0.sub(m0)).blend(0f, k0.not()).intoArray(scores, row * L);
            VectorExp.exp(s1.sub(m1)).blend(0f, k1.not()).intoArray(scores, (row + 1) * L);
            VectorExp.exp(s2.sub(m2)).blend(0f, k2.not()).intoArray(scores, (row + 2) * L);
            VectorExp.exp(s3.sub(m3)).blend(0f, k3.not()).intoArray(scores, (row + 3) * L);
            addToSum(scores, sum, max, acc, headDim, row, m0);
            addToSum(scores, sum, max, acc, headDim, row + 1, m1);
            addToSum(scores, sum, max, acc, headDim, row + 2, m2);
            addToSum(scores, sum, max, acc, headDim, row + 3, m3);
        }
        for (; row < to; row++) {
            VectorMask<Float> k0 = VectorMask.fromLong(F, seen(row, nq, pos0, kb, window));
            FloatVector s0 = v(scores, row * L);
            float m0 = Math.max(max[row], s0.reduceLanes(VectorOperators.MAX, k0));
            VectorExp.exp(s0.sub(m0)).blend(0f, k0.not()).intoArray(scores, row * L);
            addToSum(scores, sum, max, acc, headDim, row, m0);
        }
    }

    /** The lanes of the key block at kb that the query of score row {@code row} sees (lanes from - kb .. to - kb), as bits. */
    private static long seen(int row, int nq, int pos0, int kb, int window) {
        int pos = pos0 + row % nq, from = Math.max(kb, pos - window + 1), to = Math.min(kb + L - 1, pos);
        return (-1L >>> (63 - (to - kb))) & (-1L << (from - kb));
    }

    /**
     * Row's sums (and output) rescaled to its new max m where it rose, then the block's exps (its scores now) added.
     * Arrays and scalars only: where C2 does not inline a call, a vector passed through it would be boxed.
     */
    private static void addToSum(float[] scores, float[] sum, float[] max, float[] acc, int headDim, int row, float m) {
        FloatVector l = v(sum, row * L);
        if (m > max[row]) {
            float r = (float) Math.exp(max[row] - m);
            l = l.mul(r);
            rescale(acc, row * headDim, headDim, r);
            max[row] = m;
        }
        l.add(v(scores, row * L)).intoArray(sum, row * L);
    }

    /** a[at .. at+n) *= r. */
    private static void rescale(float[] a, int at, int n, float r) {
        int d = 0;
        for (; d + L <= n; d += L) FloatVector.fromArray(F, a, at + d).mul(r).intoArray(a, at + d);
        for (; d < n; d++) a[at + d] *= r;
    }

    /** One query's scores (q at q0) against a transposed key block: one FMA chain over the dimensions per key. */
    private static void score1(float[] q, float[] kt, int headDim, int q0, float scale, float[] scores, int at) {
        FloatVector acc = FloatVector.zero(F);
        for (int d = 0; d < headDim; d++) acc = FloatVector.fromArray(F, kt, d * L).fma(FloatVector.broadcast(F, q[q0 + d]), acc);
        acc.mul(scale).intoArray(scores, at);
    }

    /**
     * Scores of 4 queries (q at q0, q0 + step, ...) against a transposed key block: four independent FMA
     * chains sharing each key load, each the same chain over the dimensions as {@link #score1}.
     */
    private static void scores4(float[] q, float[] kt, int headDim, int q0, int step, float scale, float[] scores, int at, int stride) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < headDim; d++) {
            FloatVector kv = FloatVector.fromArray(F, kt, d * L);
            a0 = kv.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
            a1 = kv.fma(FloatVector.broadcast(F, q[q0 + step + d]), a1);
            a2 = kv.fma(FloatVector.broadcast(F, q[q0 + 2 * step + d]), a2);
            a3 = kv.fma(FloatVector.broadcast(F, q[q0 + 3 * step + d]), a3);
        }
        a0.mul(scale).intoArray(scores, at);
        a1.mul(scale).intoArray(scores, at + stride);
        a2.mul(scale).intoArray(scores, at + 2 * stride);
        a3.mul(scale).intoArray(scores, at + 3 * stride);
    }

    /**
     * acc[ao ..] += sum over the block's keys c = 0 .. L-1, in that order, of p[row + c] times that key's values
     * (src[c] at off[c]): four vectors of the head's dimensions at a time stay in registers over the keys
     * (four independent chains), the rest lane by lane.
     */
    private static void weighted(float[] p, int row, float[][] src, int[] off, int headDim, float[] acc, int ao) {
        int d = 0;
        for (; d + 4 * L <= headDim; d += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(F, acc, ao + d), a1 = FloatVector.fromArray(F, acc, ao + d + L);
            FloatVector a2 = FloatVector.fromArray(F, acc, ao + d + 2 * L), a3 = FloatVector.fromArray(F, acc, ao + d + 3 * L);
            for (int c = 0; c < L; c++) {
                float[] vs = src[c];
                int o = off[c] + d;
                FloatVector w = FloatVector.broadcast(F, p[row + c]);
                a0 = FloatVector.fromArray(F, vs, o).fma(w, a0);
                a1 = FloatVector.fromArray(F, vs, o + L).fma(w, a1);
                a2 = FloatVector.fromArray(F, vs, o + 2 * L).fma(w, a2);
                a3 = FloatVector.fromArray(F, vs, o + 3 * L).fma(w, a3);
            }
            a0.intoArray(acc, ao + d); a1.intoArray(acc, ao + d + L); a2.intoArray(acc, ao + d + 2 * L); a3.intoArray(acc, ao + d + 3 * L);
        }
        for (; d + L <= headDim; d += L) {
            FloatVector a = FloatVector.fromArray(F, acc, ao + d);
            for (int c = 0; c < L; c++) a = FloatVector.fromArray(F, src[c], off[c] + d).fma(FloatVector.broadcast(F, p[row + c]), a);
            a.intoArray(acc, ao + d);
        }
        for (; d < headDim; d++) {
            float a = acc[ao + d];
            for (int c = 0; c < L; c++) a = Math.fma(src[c][off[c] + d], p[row + c], a);
            acc[ao + d] = a;
        }
    }

    /**
     * {@link #weighted} for four consecutive score rows (p at row, row + L, ...; their sums at ao, ao + headDim, ...)
     * at once: each value vector loaded serves the four, so a multiply-add needs half a load, where one row at a
     * time needed one. Each row's chains are {@link #weighted}'s, in the same order.
     */
    private static void weighted4(float[] p, int row, float[][] src, int[] off, int headDim, float[] acc, int ao) {
        int d = 0, p0 = row, p1 = row + L, p2 = row + 2 * L, p3 = row + 3 * L;
        int o0 = ao, o1 = ao + headDim, o2 = ao + 2 * headDim, o3 = ao + 3 * headDim;
        for (; d + 4 * L <= headDim; d += 4 * L) {
            FloatVector a00 = v(acc, o0 + d), a01 = v(acc, o0 + d + L), a02 = v(acc, o0 + d + 2 * L), a03 = v(acc, o0 + d + 3 * L);
            FloatVector a10 = v(acc, o1 + d), a11 = v(acc, o1 + d + L), a12 = v(acc, o1 + d + 2 * L), a13 = v(acc, o1 + d + 3 * L);
            FloatVector a20 = v(acc, o2 + d), a21 = v(acc, o2 + d + L), a22 = v(acc, o2 + d + 2 * L), a23 = v(acc, o2 + d + 3 * L);
            FloatVector a30 = v(acc, o3 + d), a31 = v(acc, o3 + d + L), a32 = v(acc, o3 + d + 2 * L), a33 = v(acc, o3 + d + 3 * L);
            for (int c = 0; c < L; c++) {
                float[] vs = src[c];
                int o = off[c] + d;
                FloatVector v0 = v(vs, o), v1 = v(vs, o + L), v2 = v(vs, o + 2 * L), v3 = v(vs, o + 3 * L);
                FloatVector w = FloatVector.broadcast(F, p[p0 + c]);
                a00 = v0.fma(w, a00); a01 = v1.fma(w, a01); a02 = v2.fma(w, a02); a03 = v3.fma(w, a03);
                w = FloatVector.broadcast(F, p[p1 + c]);
                a10 = v0.fma(w, a10); a11 = v1.fma(w, a11); a12 = v2.fma(w, a12); a13 = v3.fma(w, a13);
                w = FloatVector.broadcast(F, p[p2 + c]);
                a20 = v0.fma(w, a20); a21 = v1.fma(w, a21); a22 = v2.fma(w, a22); a23 = v3.fma(w, a23);
                w = FloatVector.broadcast(F, p[p3 + c]);
                a30 = v0.fma(w, a30); a31 = v1.fma(w, a31); a32 = v2.fma(w, a32); a33 = v3.fma(w, a33);
            }
            a00.intoArray(acc, o0 + d); a01.intoArray(acc, o0 + d + L); a02.intoArray(acc, o0 + d + 2 * L); a03.intoArray(acc, o0 + d + 3 * L);
            a10.intoArray(acc, o1 + d); a11.intoArray(acc, o1 + d + L); a12.intoArray(acc, o1 + d + 2 * L); a13.intoArray(acc, o1 + d + 3 * L);
            a20.intoArray(acc, o2 + d); a21.intoArray(acc, o2 + d + L); a22.intoArray(acc, o2 + d + 2 * L); a23.intoArray(acc, o2 + d + 3 * L);
            a30.intoArray(acc, o3 + d); a31.intoArray(acc, o3 + d + L); a32.intoArray(acc, o3 + d + 2 * L); a33.intoArray(acc, o3 + d + 3 * L);
        }
        for (; d + L <= headDim; d += L) {
            FloatVector a0 = v(acc, o0 + d), a1 = v(acc, o1 + d), a2 = v(acc, o2 + d), a3 = v(acc, o3 + d);
            for (int c = 0; c < L; c++) {
                FloatVector x = v(src[c], off[c] + d);
                a0 = x.fma(FloatVector.broadcast(F, p[p0 + c]), a0);
                a1 = x.fma(FloatVector.broadcast(F, p[p1 + c]), a1);
                a2 = x.fma(FloatVector.broadcast(F, p[p2 + c]), a2);
                a3 = x.fma(FloatVector.broadcast(F, p[p3 + c]), a3);
            }
            a0.intoArray(acc, o0 + d); a1.intoArray(acc, o1 + d); a2.intoArray(acc, o2 + d); a3.intoArray(acc, o3 + d);
        }
        for (int r = 0; r < 4 && d < headDim; r++)
            for (int e = d; e < headDim; e++) {
                float a = acc[ao + r * headDim + e];
                for (int c = 0; c < L; c++) a = Math.fma(src[c][off[c] + e], p[row + r * L + c], a);
                acc[ao + r * headDim + e] = a;
            }
    }

    private static FloatVector v(float[] a, int at) { return FloatVector.fromArray(F, a, at); }
}
