package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.compute.cuda.CudaBackend.Act;
import io.mistralflink.model.compute.cuda.CudaBackend.CudaWeight;

/**
 * The dense matmuls of {@link CudaBackend} (a kernel family of it, which it serves): out = x W^T with bf16
 * weights and the bf16 rounding of x, fp32 accumulate and out.
 * <ul>
 *   <li>up to {@code mmaGemmRows} rows (default 0: off; it ran slower than cuBLAS in session 7, call 1), K a multiple
 *       of 32: {@code gemm_small*} / {@code swiglu_small*} in {@code gemv.cu}, on tensor cores with the batch as the
 *       narrow side of the mma, so the weights stream once whatever the batch (the decode step's GEMMs are weight reads);</li>
 *   <li>otherwise one row: the GEMV kernels ({@code gemv1}, {@code swiglu1});</li>
 *   <li>otherwise cuBLAS, up to 32 rows K cut in slices until the output tiles cover the SMs ({@link #splitK}).</li>
 * </ul>
 * Fusions: q, k and v (and gate and up) uploaded side by side ({@link CudaBackend#weights}) are one launch or one
 * GEMM; SwiGLU's product is applied in the same launch on the small-row paths, by one pass over the GEMM's
 * two halves on cuBLAS's.
 */
final class CudaMatmul {
    private final CudaBackend cu;
    private final int splitKMax, splitKWaves;
    /** Most rows for the tensor-core small GEMM (0: off); whether it also takes one row instead of the GEMV. */
    int mmaGemmRows;
    private final boolean mmaOneRow, wide;
    /** More than 32 rows: SwiGLU's stacked GEMM writes bf16 (false: fp32, as before). */
    boolean bf16SwiGlu;
    /** SwiGLU over the stacked GEMM's halves by rows ({@code silu_mul_rows}). */
    boolean rowSwiGlu;
    /** q, k and v of a stacked GEMM left in its rows until read ({@link Split}): the fused prefill attention takes them from there. */
    boolean deferSplit;

    /**
     * A stacked q/k/v GEMM's output (rows x the three widths side by side) not yet split into its parts: the first
     * ordinary read of any part ({@link CudaBackend#act}) splits all three, as {@code split_columns} always did.
     */
    record Split(long wide, long bytes, Act[] parts) {}

    CudaMatmul(CudaBackend cu) {
        this.cu = cu;
        splitKMax = cu.tuning.splitKMax();
        splitKWaves = cu.tuning.splitKWaves();
        mmaGemmRows = cu.tuning.mmaGemmRows();
        mmaOneRow = cu.tuning.mmaGemmOneRow();
        wide = cu.tuning.mmaGemmWide();
        bf16SwiGlu = cu.tuning.bf16SwiGlu();
        rowSwiGlu = cu.tuning.rowSwiGlu();
        deferSplit = cu.tuning.fusedPrefill();
    }

    /** Few rows: one launch over up to three matrices; more rows: a cuBLAS GEMM over the stacked matrices, or each. */
    void matmul(Activation x, Weight[] weights, Activation[] outs) {
        cu.bind();
        Act a = cu.matmulInput(x);
        int m = a.rows, kk = a.cols, n = 0;
        CudaWeight[] w = new CudaWeight[weights.length];
        Act[] o = new Act[outs.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = (CudaWeight) weights[i];
            o[i] = cu.act(outs[i]);
            if (kk != w[i].cols() || o[i].cols != w[i].rows() || o[i].rows != m)
                throw new IllegalArgumentException("matmul " + m + "x" + kk + " by " + w[i].rows() + "x" + w[i].cols() + " into " + o[i].rows + "x" + o[i].cols);
            n += w[i].rows();
        }
        long xb = cu.bf16Of(a);
        boolean stacked = w.length > 1 && w.length <= 3 && stacked(w);
        if (mma(m, kk) && (w.length == 1 || stacked)) {
            boolean three = w.length == 3;
            String fn = gemmKernel(m);
            cu.k(fn, smallBlocks(n, fn), 1, 1, 256, 0, w[0].ptr(), xb, o[0].f32, w.length > 1 ? o[1].f32 : 0,
                    three ? o[2].f32 : 0, w[0].rows(), w.length > 1 ? w[1].rows() : 0, three ? w[2].rows() : 0, kk, m);
        } else if (mma(m, kk)) {
            String fn = gemmKernel(m);
            for (int i = 0; i < w.length; i++)
                cu.k(fn, smallBlocks(w[i].rows(), fn), 1, 1, 256, 0, w[i].ptr(), xb, o[i].f32, 0, 0, w[i].rows(), 0, 0, kk, m);
        } else if (gemv(m, kk) && w.length <= 3) {
            int split = gemvSplit(n), perBlock = 8 / split, blocks = 0;
            long[] args = new long[13];
            for (int i = 0; i < w.length; i++) {
                args[i] = w[i].ptr();
                args[3 + i] = o[i].f32;
                args[6 + i] = w[i].rows();
                blocks += (w[i].rows() + perBlock - 1) / perBlock;
            }
            args[9] = xb; args[10] = kk; args[11] = m; args[12] = split;
            cu.k("gemv1", blocks, 1, 1, 256, 0, args);
        } else if (stacked) {
            // One GEMM over the stacked matrices, then its columns go to the projections' outputs: at 64 rows
            // of the 7B shape on an H200, 18 + 4 us a layer against 38 us for q, k, v apart (ncu).
            long bytes = 4L * m * n, wide = cu.scratch(bytes);
            gemm(m, new CudaWeight(w[0].ptr(), n, kk, false), xb, wide);
            Split split = new Split(wide, bytes, o);
            if (deferSplit && w.length == 3) {
                for (Act out : o) out.split = split;
            } else {
                splitColumns(split);
            }
        } else {
            for (int i = 0; i < w.length; i++) gemm(m, w[i], xb, o[i].f32);
        }
        for (Act out : o) CudaBackend.written(out);
    }

    /** The stacked GEMM's columns to its parts' outputs; its rows are released. */
    void splitColumns(Split sp) {
        Act[] o = sp.parts();
        for (Act out : o) out.split = null;
        boolean three = o.length == 3;
        long total = (long) o[0].rows * (o[0].cols + o[1].cols + (three ? o[2].cols : 0));
        cu.k("split_columns", cu.grid(total), 1, 1, 256, 0, sp.wide(), o[0].f32, o[1].f32, three ? o[2].f32 : 0,
                o[0].cols, o[1].cols, three ? o[2].cols : 0, total);
        for (Act out : o) CudaBackend.written(out);
        release(sp);
    }

    /** A split's rows go back to the step's pool (outside a step they are freed with the step's other scratch). */
    void release(Split sp) { if (cu.inStep) cu.pool.release(sp.wide(), sp.bytes()); }

    /**
     * SwiGLU's gate and up projections: for few rows, one launch that also applies silu(gate) * up; for
     * more, one GEMM where the two lie side by side ({@link CudaBackend#weights}), then one pass over its halves.
     */
    void swiGlu(Activation x, Weight gate, Weight up, Activation out) {
        cu.bind();
        Act a = cu.matmulInput(x), o = cu.act(out);
        CudaWeight g = (CudaWeight) gate, u = (CudaWeight) up;
        boolean small = mma(a.rows, a.cols), fused = small || gemv(a.rows, a.cols), stacked = stacked(new CudaWeight[]{g, u});
        if (g.rows() != u.rows() || !fused && !stacked) {
            Activation h = cu.allocate(a.rows, u.rows());
            matmul(x, new Weight[]{gate}, new Activation[]{out});
            matmul(x, new Weight[]{up}, new Activation[]{h});
            cu.siluMul(out, h);
            cu.release(h);
            return;
        }
        if (g.cols() != a.cols || u.cols() != a.cols || o.cols != g.rows() || o.rows != a.rows)
            throw new IllegalArgumentException("swiGlu " + a.rows + "x" + a.cols + " by " + g.rows() + "x" + g.cols() + " into " + o.rows + "x" + o.cols);
        long xb = cu.bf16Of(a);
        int n = g.rows();
        boolean rows = rowSwiGlu && n % 4 == 0 && a.rows <= 65535, lean = rows && cu.bf16Only(a.rows);
        if (small) {
            cu.k(smallKernel("swiglu_small", a.rows), (n + 15) / 16, 1, 1, 256, 0, g.ptr(), u.ptr(), xb, o.f32, cu.bf16Buffer(o), n, a.cols, a.rows);
        } else if (!fused && bf16SwiGlu && a.rows > 32) {
            // Prefill: the same GEMM with bf16 output, so the widest activation of a layer is written and read at half the bytes.
            long wideN = 2L * n, bytes = 2L * a.rows * wideN, wide = cu.scratch(bytes), total = (long) a.rows * n;
            cu.stream.gemmBf16(a.rows, (int) wideN, g.cols(), g.ptr(), xb, wide);
            if (rows) cu.k("silu_mul_rows_bf16", (n / 4 + 255) / 256, a.rows, 1, 256, 0, wide, lean ? 0 : o.f32, cu.bf16Buffer(o), n);
            else cu.k("silu_mul_stacked_bf16", cu.grid(total), 1, 1, 256, 0, wide, o.f32, cu.bf16Buffer(o), n, total);
            if (cu.inStep) cu.pool.release(wide, bytes);
        } else if (!fused) {
            // Many rows: one GEMM over gate and up side by side (H200, 64 rows: 66 us against 2 x 35), then SwiGLU over its halves.
            long wideN = 2L * n, bytes = 4L * a.rows * wideN, wide = cu.scratch(bytes);
            gemm(a.rows, new CudaWeight(g.ptr(), (int) wideN, g.cols(), false), xb, wide);
            long total = (long) a.rows * n;
            if (rows) cu.k("silu_mul_rows", (n / 4 + 255) / 256, a.rows, 1, 256, 0, wide, lean ? 0 : o.f32, cu.bf16Buffer(o), n);
            else cu.k("silu_mul_stacked", cu.grid(total), 1, 1, 256, 0, wide, o.f32, cu.bf16Buffer(o), n, total);
            if (cu.inStep) cu.pool.release(wide, bytes);
        } else {
            int split = n >= 8192 ? 1 : n >= 2048 ? 2 : 4, perBlock = 4 / split;
            cu.k("swiglu1", (n + perBlock - 1) / perBlock, 1, 1, 256, 0, g.ptr(), u.ptr(), xb, o.f32, cu.bf16Buffer(o), n, a.cols, a.rows, split);
        }
        o.zeroPending = false;
        o.bfValid = true;
        o.f32Stale = lean && !small && !fused;
    }

    /** Whether the tensor-core small GEMM takes m rows of width k. */
    private boolean mma(int m, int k) { return m <= mmaGemmRows && (m > 1 || mmaOneRow) && m >= 1 && k % 32 == 0; }

    /** The small GEMM's kernel for m rows: groups of 8 rows (the mma's narrow side) up to 8, 16 or 32. */
    private static String smallKernel(String family, int m) { return family + (m <= 8 ? 8 : m <= 16 ? 16 : 32); }

    /** The small GEMM's kernel for m rows; 17-32 rows: 32 features a block ({@code gemm_small32}) or, without mmaGemmWide, 16. */
    private String gemmKernel(int m) { return m > 16 && !wide ? "gemm_small32n" : smallKernel("gemm_small", m); }

    /** Blocks of a gemm_small* kernel: 16 features a block, 32 in gemm_small32 (which so reads x half as often). */
    private static int smallBlocks(int n, String kernel) {
        int perBlock = kernel.equals("gemm_small32") ? 32 : 16;
        return (n + perBlock - 1) / perBlock;
    }

    /** Whether the matrices lie side by side in one allocation ({@link CudaBackend#weights}), in order. */
    private static boolean stacked(CudaWeight[] w) {
        for (int i = 1; i < w.length; i++)
            if (w[i].cols() != w[0].cols() || w[i].ptr() != w[i - 1].ptr() + 2L * w[i - 1].rows() * w[i - 1].cols()) return false;
        return true;
    }

    /** The GEMV kernels serve one row: from two rows on cuBLAS is faster (see gemv.cu). */
    private static boolean gemv(int rows, int cols) { return rows == 1 && cols % 8 == 0; }

    /**
     * Warps per output feature of a GEMV: enough blocks (about 3,000: four waves of six resident blocks on
     * each of 132 SMs) that the last wave's tail is short, and enough loads in flight for narrow matrices.
     */
    static int gemvSplit(int n) {
        int s = 1;
        while (s < 8 && (long) n * s < 24000) s *= 2;
        return s;
    }

    /** out = x W^T through cuBLAS, in K slices summed by a kernel where that keeps more SMs busy ({@link #splitK}). */
    void gemm(int m, CudaWeight w, long xb, long out) {
        int n = w.rows(), kk = w.cols(), s = splitK(m, n, kk);
        if (s == 1) {
            cu.stream.gemm(m, n, kk, 1, w.ptr(), xb, out);
            return;
        }
        long bytes = 4L * s * m * n, partial = cu.scratch(bytes);
        cu.stream.gemm(m, n, kk, s, w.ptr(), xb, partial);
        cu.k("sum_splits", cu.grid((long) m * n), 1, 1, 256, 0, partial, out, (long) m * n, s);
        if (cu.inStep) cu.pool.release(partial, bytes);
    }

    /**
     * K slices for a cuBLAS GEMM. cuBLAS tiles the output in blocks of about 128 x 128, so a 64 x 4096
     * output is 32 blocks on 132 SMs, each streaming a long strip of the weights while most SMs idle;
     * slicing K until the blocks fill the SMs ({@code mistralflink.cuda.splitKWaves} times) puts the whole
     * chip to reading the weights, for the cost of summing the slices. A function of the shape alone (not
     * timed), so results are reproducible. {@code -Dmistralflink.cuda.splitK=1} turns it off.
     */
    int splitK(int m, int n, int k) {
        if (m > 32) return 1;   // at 64 rows summing the slices cost what the split saved (H200)
        long tiles = ((m + 127) / 128L) * ((n + 127) / 128L);
        int s = 1;
        while (2 * s <= splitKMax && tiles * 2 * s <= (long) splitKWaves * cu.sms && k % (2 * s) == 0 && k / (2 * s) >= 512
                && (k / (2 * s)) % 8 == 0) s *= 2;
        return s;
    }
}
