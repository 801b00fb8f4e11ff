package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.compute.cuda.CudaBackend.Act;
import io.mistralflink.model.compute.cuda.CudaBackend.CudaWeight;

/**
 * The elementwise and row operations of {@link CudaBackend} ({@code elementwise.cu}; a kernel family of it, which it
 * serves): embedding gather, RMSNorm and the fused add + RMSNorm (which also write the bf16 rounding the next matmul
 * reads), SwiGLU's product, the residual add, row gather.
 */
final class CudaElementwise {
    private final CudaBackend cu;
    boolean rowsRmsNorm;                      // CudaTuning.rowsRmsNorm (tests and benchmarks switch it)
    long rowsNormLaunches;                    // norms the float4 kernels took (tests)

    CudaElementwise(CudaBackend cu) {
        this.cu = cu;
        rowsRmsNorm = cu.tuning.rowsRmsNorm();
    }

    void embed(Weight table, int[] ids, Activation out) {
        cu.bind();
        CudaWeight t = (CudaWeight) table;
        Act o = cu.act(out);
        for (int id : ids)
            if (id < 0 || id >= t.rows()) throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + t.rows());
        long dIds = cu.uploadInts(ids);
        cu.k("embed", ids.length, 1, 1, 256, 0, t.ptr(), dIds, o.f32, t.cols());
        CudaBackend.written(o);
    }

    void rmsNorm(Activation x, Weight gain, float eps, Activation out) {
        cu.bind();
        Act a = cu.act(x), o = cu.act(out);
        cu.ensureZero(a);
        long ob = cu.bf16Buffer(o);
        boolean lean = cu.bf16Only(a.rows);
        long g = ((CudaWeight) gain).ptr(), of = lean ? 0 : o.f32;
        if (byFloat4(a.rows, a.cols, a.f32, g, of, ob))
            cu.k("rms_norm_rows", a.rows, 1, 1, rows4Threads(a.cols), 0, a.f32, g, of, ob, a.cols, Stream.f(eps));
        else cu.k("rms_norm", a.rows, 1, 1, rmsThreads(a.cols), 0, a.f32, g, of, ob, a.cols, Stream.f(eps));
        o.zeroPending = false;
        o.bfValid = true;
        o.f32Stale = lean;
    }

    /** Threads of an RMSNorm block: about 4 values each; the kernel keeps at most RMS_VPT (12) per thread in registers. */
    private static int rmsThreads(int dim) {
        if (dim > 12 * 1024) throw new IllegalArgumentException("RMSNorm over " + dim + " values: the CUDA kernel takes at most " + 12 * 1024);
        return Math.min(1024, Math.max(32, ((dim + 3) / 4 + 31) / 32 * 32));
    }

    /**
     * Whether a norm takes the float4 kernels ({@code rowsRmsNorm}): more than 32 rows (decode's few rows keep rms_row, whose
     * latency they are bound by), dim a multiple of 4 within 16 values a thread, every pointer 16-byte aligned (the bf16
     * output 8-byte: a row of dim bf16 is a multiple of 8 bytes).
     */
    private boolean byFloat4(int rows, int dim, long f32Pointers, long gain, long out, long outBf16) {
        boolean yes = rowsRmsNorm && rows > 32 && dim % 4 == 0 && dim <= 16 * 1024 && ((f32Pointers | gain | out) & 15) == 0 && (outBf16 & 7) == 0;
        if (yes) rowsNormLaunches++;
        return yes;
    }

    /** Threads of a float4 norm's block: dim / 16 (four float4s each), rounded up to a warp. */
    private static int rows4Threads(int dim) { return Math.max(32, ((dim + 15) / 16 + 31) / 32 * 32); }

    void addRmsNorm(Activation acc, Activation x, Weight gain, float eps, Activation out) {
        cu.bind();
        Act a = cu.act(acc), d = cu.act(x), o = cu.act(out);
        cu.ensureZero(a);
        cu.ensureZero(d);
        long ob = cu.bf16Buffer(o);
        boolean lean = cu.bf16Only(a.rows);
        long g = ((CudaWeight) gain).ptr(), of = lean ? 0 : o.f32;
        if (byFloat4(a.rows, a.cols, a.f32 | d.f32, g, of, ob))
            cu.k("add_rms_norm_rows", a.rows, 1, 1, rows4Threads(a.cols), 0, a.f32, d.f32, g, of, ob, a.cols, Stream.f(eps));
        else cu.k("add_rms_norm", a.rows, 1, 1, rmsThreads(a.cols), 0, a.f32, d.f32, g, of, ob, a.cols, Stream.f(eps));
        CudaBackend.written(a);
        o.zeroPending = false;
        o.bfValid = true;
        o.f32Stale = lean;
    }

    void siluMul(Activation gate, Activation up) {
        cu.bind();
        Act g = cu.act(gate), u = cu.act(up);
        cu.ensureZero(g);
        cu.ensureZero(u);
        long n = g.elems();
        cu.k("silu_mul", cu.grid(n), 1, 1, 256, 0, g.f32, u.f32, cu.bf16Buffer(g), n);
        g.bfValid = true;
    }

    void add(Activation acc, Activation x) {
        cu.bind();
        Act a = cu.act(acc), b = cu.act(x);
        cu.ensureZero(a);
        cu.ensureZero(b);
        long n = a.elems();
        cu.k("add", cu.grid(n), 1, 1, 256, 0, a.f32, b.f32, n);
        CudaBackend.written(a);
    }

    void gatherRows(Activation x, int[] rows, Activation out) {
        cu.bind();
        Act a = cu.act(x), o = cu.act(out);
        cu.ensureZero(a);
        if (rows.length == 0) return;
        long r = cu.uploadInts(rows);
        cu.k("gather_rows", rows.length, 1, 1, 256, 0, a.f32, r, o.f32, a.cols);
        CudaBackend.written(o);
    }
}
