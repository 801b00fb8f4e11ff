package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.compute.RotaryTable;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.weights.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static io.mistralflink.model.compute.cpu.MatMul.F;
import static io.mistralflink.model.compute.cpu.MatMul.L;

/**
 * The CPU backend: JDK Vector API kernels over all (or the given number of) cores. In its opt-in bf16
 * mode ({@code cpu:bf16}) products of large bf16 matrices go to oneDNN's bf16 dot products ({@link OneDnn}),
 * trading the default path's float32 exactness for speed; batch invariance holds in both modes.
 */
public final class CpuBackend implements Backend {
    /** A stored weight; in bf16 mode a matrix is also packed for oneDNN, on its first product (an embedding table never is). */
    static final class CpuWeight implements Weight {
        final Tensor tensor;
        final float[] floats;
        private OneDnn.Packed packed;
        private volatile OuterProduct.Packed outer;

        CpuWeight(Tensor tensor, float[] floats) {
            this.tensor = tensor;
            this.floats = floats;
        }

        public int rows() { return tensor.rows(); }
        public int cols() { return tensor.cols(); }
    }

    /**
     * An activation: a fresh array is zero, a reused one ({@link ActivationPool}) holds what it last held until an
     * operation reads it ({@link #data()}, which zeroes it first) or writes it whole (the backend's {@code out}), as
     * the CUDA backend does on the device. Zeroing every reused array cost 5-7% of a tiny-mistral prefill.
     */
    static final class CpuActivation implements Activation {
        private final float[] data;
        private final int rows, cols;
        private boolean zeroPending;

        CpuActivation(float[] data, int rows, int cols, boolean zeroPending) {
            this.data = data;
            this.rows = rows;
            this.cols = cols;
            this.zeroPending = zeroPending;
        }

        public int rows() { return rows; }
        public int cols() { return cols; }

        /** The floats as an input (or read back). */
        float[] data() {
            if (zeroPending) {
                Arrays.fill(data, 0f);
                zeroPending = false;
            }
            return data;
        }
    }

    /** Output features per parallel chunk grain, scaled so a chunk is worth a thread hand-off. */
    private static final int MIN_MACS_PER_CHUNK = 1 << 15;

    /**
     * Released activations are reused: a step's working set, up to 1 GiB (a 4,096-token 7B chunk needs about 0.9)
     * or a quarter of the heap where that is less (a TaskManager's heap is shared with its other tasks).
     */
    private final ActivationPool pool = new ActivationPool(Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4));
    private final Parallel parallel;
    private final Map<Double, Rope> ropes = new ConcurrentHashMap<>();
    /** oneDNN's bf16 products serve every matmul of a bf16 weight. */
    private final boolean bf16;
    /** The weights packed for oneDNN, freed with the backend. */
    private final java.util.List<OneDnn.Packed> packed = new java.util.ArrayList<>();

    public CpuBackend() { this(Runtime.getRuntime().availableProcessors()); }

    public CpuBackend(int threads) { this(threads, false); }

    /**
     * bf16: matmuls of bf16 weights through oneDNN where it loads and has bf16 kernels (else, with one
     * line on stderr, the float32 path).
     */
    public CpuBackend(int threads, boolean bf16) {
        this.parallel = new Parallel(Math.max(1, threads));
        String why = bf16 ? OneDnn.unavailable() : null;
        if (why != null) System.err.println("[backend] cpu:bf16: oneDNN unavailable (" + why + "); using the float32 Vector API path");
        this.bf16 = bf16 && why == null;
    }

    @Override public String name() {
        return "cpu (" + parallel.threads() + " threads, " + F.vectorBitSize() + "-bit vectors" + (bf16 ? ", oneDNN bf16" : "") + ")";
    }

    /** Matrices are read in place; vectors (norm gains) are small and widened once. */
    @Override public Weight weight(Tensor stored) {
        return new CpuWeight(stored, stored.shape().length == 1 ? stored.toFloats() : null);
    }

    @Override public Activation allocate(int rows, int cols) {
        ActivationPool.Taken t = pool.take(rows * cols);
        return new CpuActivation(t.data(), rows, cols, t.reused());
    }

    @Override public void release(Activation... done) {
        for (Activation a : done) if (a != null) pool.give(((CpuActivation) a).data);
    }

    @Override public Activation upload(float[] host, int rows, int cols) {
        if (host.length != rows * cols) throw new IllegalArgumentException("expected " + rows + "x" + cols + " floats, got " + host.length);
        return new CpuActivation(host.clone(), rows, cols, false);
    }

    @Override public float[] download(Activation a) { return data(a).clone(); }

    @Override public KvCache kvCache(int layers, int window, int kvDim) { return new RollingKvCache(layers, window, kvDim); }

    /** An input's floats (zeroed first if it was never written). */
    private static float[] data(Activation a) { return ((CpuActivation) a).data(); }

    /** An output's floats, which the operation writes whole. */
    private static float[] out(Activation a) {
        CpuActivation c = (CpuActivation) a;
        c.zeroPending = false;
        return c.data;
    }

    private static Tensor tensor(Weight w) { return ((CpuWeight) w).tensor; }

    /** The weight packed for oneDNN, or null where the float32 path serves it (the default mode, other dtypes). */
    private OneDnn.Packed packed(Weight weight) {
        CpuWeight w = (CpuWeight) weight;
        if (!bf16 || !OneDnn.supports(w.tensor)) return null;
        synchronized (w) {
            if (w.packed == null) {
                w.packed = OneDnn.pack(w.tensor);
                synchronized (packed) { packed.add(w.packed); }
            }
            return w.packed;
        }
    }

    /** The weight packed k-major for {@link OuterProduct}, or null where it is too wide (or a vector). */
    private static OuterProduct.Packed outer(Weight weight) {
        CpuWeight w = (CpuWeight) weight;
        OuterProduct.Packed p = w.outer;
        if (p != null || !OuterProduct.serves(w.tensor)) return p;
        synchronized (w) {
            if (w.outer == null) w.outer = OuterProduct.pack(w.tensor);
            return w.outer;
        }
    }

    @Override public void embed(Weight table, int[] ids, Activation out) {
        Tensor t = tensor(table);
        float[] o = out(out);
        int dim = t.cols();
        for (int r = 0; r < ids.length; r++) {
            if (ids[r] < 0 || ids[r] >= t.rows())
                throw new IllegalArgumentException("token id " + ids[r] + " outside the vocabulary of " + t.rows());
            MatMul.row(t, ids[r], o, r * dim);
        }
    }

    @Override public void rmsNorm(Activation x, Weight gain, float eps, Activation out) {
        float[] xs = data(x), o = out(out), g = ((CpuWeight) gain).floats;
        int dim = x.cols();
        parallel.range(x.rows(), Math.max(1, MIN_MACS_PER_CHUNK / dim), (from, to) -> {
            float[] lanes = new float[L];
            for (int r = from; r < to; r++) normRow(xs, r * dim, dim, g, eps, o, lanes);
        });
    }

    /** The residual add in the same pass over the rows as the norm (each row added, then normalized, by one thread). */
    @Override public void addRmsNorm(Activation acc, Activation x, Weight gain, float eps, Activation out) {
        float[] a = data(acc), xs = data(x), o = out(out), g = ((CpuWeight) gain).floats;
        int dim = acc.cols();
        parallel.range(acc.rows(), Math.max(1, MIN_MACS_PER_CHUNK / dim), (from, to) -> {
            float[] lanes = new float[L];
            for (int r = from; r < to; r++) {
                add(a, xs, r * dim, (r + 1) * dim);
                normRow(a, r * dim, dim, g, eps, o, lanes);
            }
        });
    }

    /** o[base..base+dim) = x[base..] / rms(x[base..]) * g. */
    private static void normRow(float[] xs, int base, int dim, float[] g, float eps, float[] o, float[] lanes) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (; i + L <= dim; i += L) {
            FloatVector v = FloatVector.fromArray(F, xs, base + i);
            acc = v.fma(v, acc);
        }
        float ss = MatMul.sum(acc, lanes);
        for (; i < dim; i++) ss = Math.fma(xs[base + i], xs[base + i], ss);
        float scale = (float) (1.0 / Math.sqrt(ss / dim + eps));
        for (i = 0; i < dim; i++) o[base + i] = g[i] * (xs[base + i] * scale);
    }

    @Override public void matmul(Activation x, Weight w, Activation out) {
        Tensor t = tensor(w);
        if (x.cols() != t.cols() || out.cols() != t.rows() || out.rows() != x.rows())
            throw new IllegalArgumentException("matmul " + x.rows() + "x" + x.cols() + " by " + t + " into " + out.rows() + "x" + out.cols());
        matmulRows(data(x), 0, x.rows(), w, out(out));
    }

    /**
     * Narrow matrices ({@link OuterProduct}) share one launch; in bf16 mode, oneDNN's rows are rounded once for all
     * the weights.
     */
    @Override public void matmul(Activation x, Weight[] w, Activation[] out) {
        OuterProduct.Packed[] narrow = new OuterProduct.Packed[w.length];
        OneDnn.Packed[] dnn = new OneDnn.Packed[w.length];
        float[][] o = new float[w.length][];
        boolean allNarrow = true, allDnn = bf16;
        for (int i = 0; i < w.length; i++) {
            o[i] = out(out[i]);
            boolean fits = out[i].cols() == w[i].rows() && out[i].rows() == x.rows() && x.cols() == w[i].cols();
            allNarrow &= fits && (narrow[i] = outer(w[i])) != null;
            allDnn &= fits && (dnn[i] = packed(w[i])) != null;
        }
        if (allNarrow) outerRows(data(x), 0, x.rows(), narrow, o);
        else if (allDnn) OneDnn.matmul(data(x), 0, x.rows(), dnn, o, parallel.threads());
        else Backend.super.matmul(x, w, out);
    }

    /** out[r] = W x[r] for rows [r0, r1) of x and out. */
    private void matmulRows(float[] xs, int r0, int r1, Weight w, float[] o) {
        Tensor t = tensor(w);
        int rows = r1 - r0, n = t.rows();
        OneDnn.Packed p = packed(w);
        if (p != null) { OneDnn.matmul(xs, r0, r1, new OneDnn.Packed[]{p}, new float[][]{o}, parallel.threads()); return; }
        OuterProduct.Packed op = outer(w);
        if (op != null) { outerRows(xs, r0, r1, new OuterProduct.Packed[]{op}, new float[][]{o}); return; }
        int grain = Math.max(4, (MIN_MACS_PER_CHUNK / Math.max(1, t.cols() * rows)) & ~3);
        // Chunks are whole multiples of 4 output features, so every chunk tiles the same way.
        int blocks = (n + 3) / 4;
        parallel.range(blocks, Math.max(1, grain / 4), (from, to) -> MatMul.columns(xs, r0, r1, t, o, from * 4, Math.min(n, to * 4)));
    }

    /**
     * {@link OuterProduct} for rows [r0, r1) of several products of the same rows (q, k and v), in one launch over
     * units of (block of rows, group of outputs), a thread's units taking the groups of one block in turn (the
     * block stays in its L2 while the panels pass). Where there are fewer groups than twice the threads (a
     * 64-output projection), the rows are split further: a row's bits do not depend on its tile.
     */
    private void outerRows(float[] xs, int r0, int r1, OuterProduct.Packed[] p, float[][] o) {
        int[] first = new int[p.length + 1];
        for (int i = 0; i < p.length; i++) first[i + 1] = first[i] + p[i].groups();
        outerUnits(r0, r1, first[p.length], p[0].k(), (from, to, g) -> {
            int i = 0;
            while (g >= first[i + 1]) i++;
            OuterProduct.groups(xs, from, to, p[i], o[i], g - first[i], g - first[i] + 1);
        });
    }

    private interface Unit { void run(int from, int to, int group); }

    /** Runs unit (rows, group) over the blocks of rows [r0, r1) and groups [0, groups) of k-wide products. */
    private void outerUnits(int r0, int r1, int groups, int k, Unit unit) {
        int rows = r1 - r0, tile = OuterProduct.ROWS;
        if (rows <= 0) return; // a step whose chunks carry no rows here (a scoring step's empty shard input)
        int splits = Math.max(1, Math.min(2 * parallel.threads() / groups, rows / (2 * tile)));
        int block = Math.min(OuterProduct.BLOCK_ROWS, ((rows + splits - 1) / splits + tile - 1) / tile * tile);
        int blocks = (rows + block - 1) / block;
        int grain = Math.max(1, MIN_MACS_PER_CHUNK / (Math.min(block, rows) * OuterProduct.G * k));
        parallel.range(blocks * groups, grain, (from, to) -> {
            for (int u = from; u < to; u++) {
                int start = r0 + u / groups * block;
                unit.run(start, Math.min(r1, start + block), u % groups);
            }
        });
    }

    /**
     * Where both matrices are narrow, gate, up and silu run per unit of {@link OuterProduct}: the unit's up outputs
     * are multiplied in while still in cache, one launch for the three.
     */
    @Override public void swiGlu(Activation x, Weight gate, Weight up, Activation out) {
        OuterProduct.Packed g = outer(gate), u = outer(up);
        if (g == null || u == null || x.cols() != g.k() || g.k() != u.k() || g.n() != u.n() || out.cols() != g.n() || out.rows() != x.rows()) {
            Backend.super.swiGlu(x, gate, up, out);
            return;
        }
        Activation upOut = allocate(x.rows(), u.n());
        float[] xs = data(x), o = out(out), uo = out(upOut);
        int n = g.n();
        outerUnits(0, x.rows(), g.groups(), g.k(), (from, to, group) -> {
            OuterProduct.groups(xs, from, to, g, o, group, group + 1);
            OuterProduct.groups(xs, from, to, u, uo, group, group + 1);
            int j = group * OuterProduct.G, jEnd = Math.min(n, j + OuterProduct.G);
            for (int r = from; r < to; r++) siluMul(o, uo, r * n + j, r * n + jEnd);
        });
        release(upOut);
    }

    @Override public void rotary(Activation q, Activation k, int headDim, int[] positions, double theta) {
        rotary(q, headDim, positions, theta);
        rotary(k, headDim, positions, theta);
    }

    /**
     * Each head's halves rotated, a vector of pairs at a time, rows split over the cores: x1 cos - x2 sin and x2 cos +
     * x1 sin, each product rounded, as the scalar expressions are (Java never fuses them), so the bits are those of the
     * one-pair loop.
     */
    private void rotary(Activation x, int headDim, int[] positions, double theta) {
        Rope rope = ropes.computeIfAbsent(theta * 1e6 + headDim, key -> new Rope(theta, headDim));
        int top = 0;
        for (int p : positions) top = Math.max(top, p);
        float[][] cos = rope.cos(top), sin = rope.sin(top);
        float[] xs = data(x);
        int cols = x.cols(), half = headDim / 2;
        parallel.range(positions.length, Math.max(1, MIN_MACS_PER_CHUNK / cols), (from, to) -> {
            for (int r = from; r < to; r++) {
                float[] c = cos[positions[r]], sn = sin[positions[r]];
                for (int h = r * cols; h < (r + 1) * cols; h += headDim) {
                    int i = 0;
                    for (; i + L <= half; i += L) {
                        FloatVector x1 = FloatVector.fromArray(F, xs, h + i), x2 = FloatVector.fromArray(F, xs, h + i + half);
                        FloatVector cv = FloatVector.fromArray(F, c, i), sv = FloatVector.fromArray(F, sn, i);
                        x1.mul(cv).sub(x2.mul(sv)).intoArray(xs, h + i);
                        x2.mul(cv).add(x1.mul(sv)).intoArray(xs, h + i + half);
                    }
                    for (; i < half; i++) {
                        float x1 = xs[h + i], x2 = xs[h + i + half];
                        xs[h + i] = x1 * c[i] - x2 * sn[i];
                        xs[h + i + half] = x2 * c[i] + x1 * sn[i];
                    }
                }
            }
        });
    }

    @Override public void attention(Activation q, Activation k, Activation v, Activation out, AttentionBatch batch, int layer) {
        SlidingWindowKernel.run(parallel, data(q), data(k), data(v), out(out), batch, layer);
    }

    /**
     * gate = silu(gate) * up, elementwise in float32 vectors ({@link VectorExp}), split over the cores where
     * there are many rows. Every element, tails included, takes the same lanewise arithmetic (a masked load,
     * a masked store), so its value does not depend on where it lies: batch invariance holds.
     */
    @Override public void siluMul(Activation gate, Activation up) {
        float[] g = data(gate), u = data(up);
        parallel.range(g.length, 1 << 15, (from, to) -> siluMul(g, u, from, to));
    }

    /** g[i] = silu(g[i]) * u[i] for i in [from, to). */
    private static void siluMul(float[] g, float[] u, int from, int to) {
        for (int i = from; i < to; i += L) {
            VectorMask<Float> m = F.indexInRange(i, to);
            FloatVector x = FloatVector.fromArray(F, g, i, m);
            x.div(VectorExp.exp(x.neg()).add(1f)).mul(FloatVector.fromArray(F, u, i, m)).intoArray(g, i, m);
        }
    }

    @Override public void add(Activation acc, Activation x) { add(data(acc), data(x), 0, acc.rows() * acc.cols()); }

    /** a[i] += b[i] for i in [from, to). */
    private static void add(float[] a, float[] b, int from, int to) {
        int i = from;
        for (; i + L <= to; i += L) FloatVector.fromArray(F, a, i).add(FloatVector.fromArray(F, b, i)).intoArray(a, i);
        for (; i < to; i++) a[i] += b[i];
    }

    @Override public void gatherRows(Activation x, int[] rows, Activation out) {
        int c = x.cols();
        for (int i = 0; i < rows.length; i++) System.arraycopy(data(x), rows[i] * c, out(out), i * c, c);
    }

    /**
     * The CPU's routing: pairRow / pairWeight per pair (grouped by expert, offsets[e] .. offsets[e+1]
     * being expert e's pairs), rowPairs[r * topK + i] row r's pairs in expert order.
     */
    public record CpuRouting(int rows, int topK, int experts, int[] offsets, int[] pairRow, float[] pairWeight, int[] rowPairs)
            implements Routing {}

    @Override public Routing route(Activation scores, int topK) {
        float[] l = data(scores);
        int rows = scores.rows(), n = scores.cols();
        if (topK < 1 || topK > n) throw new IllegalArgumentException("top " + topK + " of " + n + " experts");
        int pairs = rows * topK;
        int[] rowExpert = new int[pairs], offsets = new int[n + 1];
        float[] rowWeight = new float[pairs];
        double[] w = new double[topK];
        for (int r = 0; r < rows; r++) {
            int[] chosen = topK(l, r * n, n, topK);
            double max = l[r * n + chosen[0]], sum = 0;
            for (int i = 0; i < topK; i++) sum += w[i] = Math.exp(l[r * n + chosen[i]] - max);
            // the row's experts in ascending order, with their weights
            for (int i = 0; i < topK; i++) {
                int e = chosen[i], at = r * topK + i;
                float wt = (float) (w[i] / sum);
                while (at > r * topK && rowExpert[at - 1] > e) {
                    rowExpert[at] = rowExpert[at - 1];
                    rowWeight[at] = rowWeight[at - 1];
                    at--;
                }
                rowExpert[at] = e;
                rowWeight[at] = wt;
                offsets[e + 1]++;
            }
        }
        for (int e = 0; e < n; e++) offsets[e + 1] += offsets[e];
        int[] next = Arrays.copyOf(offsets, n), pairRow = new int[pairs], rowPairs = new int[pairs];
        float[] pairWeight = new float[pairs];
        for (int r = 0; r < rows; r++)
            for (int i = r * topK; i < (r + 1) * topK; i++) {
                int p = next[rowExpert[i]]++;
                pairRow[p] = r;
                pairWeight[p] = rowWeight[i];
                rowPairs[i] = p;
            }
        return new CpuRouting(rows, topK, n, offsets, pairRow, pairWeight, rowPairs);
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

    private static CpuRouting routing(Routing r, Activation pairs, String what) {
        CpuRouting c = (CpuRouting) r;
        if (pairs.rows() != c.rows * c.topK)
            throw new IllegalArgumentException(what + ": " + pairs.rows() + " rows for " + c.rows + " rows x top " + c.topK);
        return c;
    }

    @Override public void dispatch(Activation x, Routing routing, Activation out) {
        CpuRouting r = routing(routing, out, "dispatch");
        if (x.rows() != r.rows || x.cols() != out.cols()) throw new IllegalArgumentException("dispatch of " + x.rows() + "x" + x.cols() + " rows");
        float[] xs = data(x), o = out(out);
        int c = x.cols();
        for (int p = 0; p < r.pairRow.length; p++) System.arraycopy(xs, r.pairRow[p] * c, o, p * c, c);
    }

    @Override public void groupedMatmul(Activation x, Weight[] w, Routing routing, Activation out) {
        CpuRouting r = routing(routing, x, "groupedMatmul");
        if (w.length != r.experts) throw new IllegalArgumentException(w.length + " weights for " + r.experts + " experts");
        if (out.rows() != x.rows()) throw new IllegalArgumentException("groupedMatmul into " + out.rows() + " rows from " + x.rows());
        float[] xs = data(x), o = out(out);
        for (int e = 0; e < w.length; e++) {
            Tensor t = tensor(w[e]);
            if (x.cols() != t.cols() || out.cols() != t.rows())
                throw new IllegalArgumentException("groupedMatmul " + x.rows() + "x" + x.cols() + " by " + t + " into " + out.rows() + "x" + out.cols());
            if (r.offsets[e] < r.offsets[e + 1]) matmulRows(xs, r.offsets[e], r.offsets[e + 1], w[e], o);
        }
    }

    @Override public void combine(Activation y, Routing routing, Activation out) {
        CpuRouting r = routing(routing, y, "combine");
        if (out.rows() != r.rows || out.cols() != y.cols()) throw new IllegalArgumentException("combine into " + out.rows() + "x" + out.cols());
        float[] ys = data(y), o = out(out);
        int c = y.cols(), k = r.topK;
        for (int row = 0; row < r.rows; row++) {
            int oo = row * c;
            Arrays.fill(o, oo, oo + c, 0f);
            for (int i = row * k; i < (row + 1) * k; i++) {
                int p = r.rowPairs[i], so = p * c;
                float wt = r.pairWeight[p];
                for (int j = 0; j < c; j++) o[oo + j] += wt * ys[so + j];
            }
        }
    }

    @Override public void close() {
        parallel.close();
        synchronized (packed) {
            packed.forEach(OneDnn.Packed::close);
            packed.clear();
        }
    }

    /** The rotary table ({@link RotaryTable}), cached by position. */
    private static final class Rope {
        private final RotaryTable table;
        private volatile float[][] cos = new float[0][], sin = new float[0][];

        Rope(double theta, int headDim) { table = new RotaryTable(theta, headDim); }

        /** The cosines of every position up to at least pos (row p: position p's). */
        float[][] cos(int pos) { grow(pos); return cos; }
        float[][] sin(int pos) { grow(pos); return sin; }

        private synchronized void grow(int pos) {
            if (pos < cos.length) return;
            int n = Math.max(pos + 1, cos.length * 2);
            float[][] c = Arrays.copyOf(cos, n), s = Arrays.copyOf(sin, n);
            for (int p = cos.length; p < n; p++) {
                c[p] = new float[table.half()];
                s[p] = new float[table.half()];
                table.fill(p, p + 1, c[p], s[p], 0);
            }
            sin = s;
            cos = c;
        }
    }
}
