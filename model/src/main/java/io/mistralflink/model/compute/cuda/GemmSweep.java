package io.mistralflink.model.compute.cuda;

// Run on the GPU machine: java ... -cp "$CP" io.mistralflink.model.compute.cuda.GemmSweep --m 64 [--shapes qkv,o,gate,gateup,down,head] [--reps 50]

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulAlgo_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static io.mistralflink.model.compute.cuda.Cuda.checkCublas;
import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.*;

/**
 * Times every cuBLASLt algorithm the heuristic offers for the decode GEMM shapes (row-major
 * out[M][N] fp32 = x[M][K] bf16 times W[N][K]^T bf16), next to {@code cublasGemmEx}'s default and the
 * split-K strided-batched form, both as {@link Stream} issues them. Weights rotate through copies
 * that together exceed 400 MB, so they come from HBM, not L2. {@code bin/mistral-flink bench gemm-sweep
 * [--m 16,64,256] [--shapes qkv,o,...] [--reps 50]} on a machine with a GPU.
 */
public final class GemmSweep {
    interface Call { int run(int copy); }

    record Row(String text, double us, boolean ok) {}

    static final Map<String, int[]> SHAPES = new LinkedHashMap<>();
    static {
        SHAPES.put("qkv", new int[]{6144, 4096});
        SHAPES.put("o", new int[]{4096, 4096});
        SHAPES.put("gate", new int[]{14336, 4096});
        SHAPES.put("gateup", new int[]{28672, 4096});
        SHAPES.put("down", new int[]{4096, 14336});
        SHAPES.put("head", new int[]{32000, 4096});
    }
    static final long WS = 64L << 20;
    static final FloatPointer ONE = new FloatPointer(1f), ZERO = new FloatPointer(0f);
    static final CUstream_st stream = new CUstream_st();
    static final cublasContext blas = new cublasContext();
    static final cublasLtContext lt = new cublasLtContext();
    static final CUevent_st e0 = new CUevent_st(), e1 = new CUevent_st();
    static long wsBlas, wsLt, out;
    static int reps;

    static Cuda.Addr a(long p) { return new Cuda.Addr(p); }

    public static void main(String[] args) {
        Map<String, String> o = new HashMap<>(Map.of("--m", "16,64,256", "--shapes", String.join(",", SHAPES.keySet()), "--reps", "50"));
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i], args[i + 1]);
        reps = Integer.parseInt(o.get("--reps"));
        int[] ms = java.util.Arrays.stream(o.get("--m").split(",")).map(String::strip).mapToInt(Integer::parseInt).toArray();
        int maxM = java.util.Arrays.stream(ms).max().orElseThrow();

        check(cuInit(0), "cuInit");
        int[] dev = new int[1];
        check(cuDeviceGet(dev, 0), "cuDeviceGet");
        CUctx_st ctx = new CUctx_st();
        check(cuDevicePrimaryCtxRetain(ctx, dev[0]), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, dev[0]), "cuDeviceGetName");
        int len = 0;
        while (len < name.length && name[len] != 0) len++;
        System.out.printf("GPU: %s, cuBLASLt %d, %d timed calls per row%n", new String(name, 0, len), cublasLtGetVersion(), reps);

        check(cuStreamCreate(stream, CU_STREAM_DEFAULT), "cuStreamCreate");
        checkCublas(cublasCreate_v2(blas), "cublasCreate");
        checkCublas(cublasSetStream_v2(blas, stream), "cublasSetStream");
        wsBlas = Cuda.malloc(WS);
        wsLt = Cuda.malloc(WS);
        checkCublas(cublasSetWorkspace_v2(blas, a(wsBlas), WS), "cublasSetWorkspace");
        checkCublas(cublasLtCreate(lt), "cublasLtCreate");
        check(cuEventCreate(e0, 0), "cuEventCreate");
        check(cuEventCreate(e1, 0), "cuEventCreate");

        PointerPointer<?> pp = new PointerPointer<>(1);
        checkCublas(cublasLtMatmulDescCreate(pp, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
        cublasLtMatmulDescOpaque_t desc = new cublasLtMatmulDescOpaque_t(pp.get(0));
        checkCublas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, new IntPointer(new int[]{CUBLAS_OP_T}), 4), "TRANSA");
        checkCublas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, new IntPointer(new int[]{CUBLAS_OP_N}), 4), "TRANSB");
        checkCublas(cublasLtMatmulPreferenceCreate(pp), "cublasLtMatmulPreferenceCreate");
        cublasLtMatmulPreferenceOpaque_t pref = new cublasLtMatmulPreferenceOpaque_t(pp.get(0));
        checkCublas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, new LongPointer(new long[]{WS}), 8), "MAX_WORKSPACE");

        for (String s : o.get("--shapes").split(",")) {
            int[] nk = SHAPES.get(s.strip());
            if (nk == null) throw new IllegalArgumentException("unknown shape " + s + " " + SHAPES.keySet());
            int n = nk[0], k = nk[1];
            long wBytes = 2L * n * k, xBytes = 2L * maxM * k;
            int copies = Math.max(2, (int) (400e6 / (wBytes + xBytes)) + 1);
            long[] w = new long[copies], x = new long[copies];
            for (int c = 0; c < copies; c++) { w[c] = Cuda.malloc(wBytes); x[c] = Cuda.malloc(xBytes); }
            fill(w[0], (long) n * k, 1);
            fill(x[0], (long) maxM * k, 2);
            for (int c = 1; c < copies; c++) {
                check(cuMemcpyDtoD(w[c], w[0], wBytes), "cuMemcpyDtoD");
                check(cuMemcpyDtoD(x[c], x[0], xBytes), "cuMemcpyDtoD");
            }
            out = Cuda.malloc(4L * 4 * maxM * n);   // room for 4 split-K partials
            check(cuCtxSynchronize(), "cuCtxSynchronize");
            for (int m : ms) sweep(s.strip(), m, n, k, w, x, copies, desc, pref);
            for (int c = 0; c < copies; c++) { cuMemFree(w[c]); cuMemFree(x[c]); }
            cuMemFree(out);
        }
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatmulDescDestroy(desc);
        cublasLtDestroy(lt);
        cublasDestroy_v2(blas);
    }

    /** One block: baseline, split-K forms, then every heuristic algo. */
    static void sweep(String shape, int m, int n, int k, long[] w, long[] x, int copies,
                      cublasLtMatmulDescOpaque_t desc, cublasLtMatmulPreferenceOpaque_t pref) {
        System.out.printf("%n== %s: M=%d N=%d K=%d (%d weight copies, %.0f MB) ==%n", shape, m, n, k, copies, copies * 2.0 * n * k / 1e6);
        System.out.printf("%-8s %9s %7s %6s %6s %9s %5s %6s %4s %4s %6s %7s %8s %8s  %s%n", "algo", "us", "GB/s",
                "x base", "waves", "ws KiB", "id", "tile", "spK", "red", "swz", "stages", "cluster", "relErr", "note");
        List<Row> rows = new ArrayList<>();
        int mn = m * n;
        Call base = c -> cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, ONE, a(w[c]), CUDA_R_16BF, k, a(x[c]), CUDA_R_16BF, k,
                ZERO, a(out), CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        float[] ref = result(base, mn, 1, "cublasGemmEx");
        double baseUs = time(base, copies, "cublasGemmEx");
        rows.add(row("gemmEx", baseUs, baseUs, n, k, "", "", 0, ""));
        for (int s : new int[]{2, 4}) {
            if (k % s != 0 || k / s < 512) continue;
            int slice = k / s;
            Call sk = c -> cublasGemmStridedBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, slice, ONE, a(w[c]), CUDA_R_16BF, k, slice,
                    a(x[c]), CUDA_R_16BF, k, slice, ZERO, a(out), CUDA_R_32F, n, (long) mn, s, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            rows.add(measure("splitK" + s, sk, s, ref, copies, baseUs, n, k, "", ""));
        }
        cublasLtMatrixLayoutOpaque_t la = layout(CUDA_R_16BF, k, n, k), lb = layout(CUDA_R_16BF, k, m, k), lc = layout(CUDA_R_32F, n, m, n);
        cublasLtMatmulHeuristicResult_t res = new cublasLtMatmulHeuristicResult_t(32);
        int[] count = new int[1];
        int st = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 32, res, count);
        if (st != 0) System.out.println("cublasLtMatmulAlgoGetHeuristic failed: cuBLAS status " + st);
        for (int i = 0; st == 0 && i < count[0]; i++) {
            cublasLtMatmulHeuristicResult_t r = res.getPointer(i);
            if (r.state() != 0) { rows.add(new Row(String.format("lt#%-5d heuristic state %d", i, r.state()), 0, false)); continue; }
            cublasLtMatmulAlgo_t algo = r.algo();
            Call lc1 = c -> cublasLtMatmul(lt, desc, ONE, a(w[c]), la, a(x[c]), lb, ZERO, a(out), lc, a(out), lc, algo, a(wsLt), WS, stream);
            String info = String.format("%6.2f %9d", r.wavesCount(), r.workspaceSize() >> 10);
            rows.add(measure("lt#" + i, lc1, 1, ref, copies, baseUs, n, k, info, config(algo)));
        }
        double best = rows.stream().filter(Row::ok).mapToDouble(Row::us).min().orElse(-1);
        for (Row r : rows) System.out.println(r.text + (r.ok && r.us == best ? "  <== best" : ""));
        cublasLtMatrixLayoutDestroy(la);
        cublasLtMatrixLayoutDestroy(lb);
        cublasLtMatrixLayoutDestroy(lc);
        res.close();
    }

    /** Checks one call's result against ref (summing split-K partials), then times it; a failure becomes its row. */
    static Row measure(String label, Call call, int splits, float[] ref, int copies, double baseUs, int n, int k, String info, String cfg) {
        try {
            float[] got = result(call, ref.length, splits, label);
            double err = 0;
            for (int i = 0; i < ref.length; i++) {
                double e = Math.abs(got[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-3);
                err = e <= 1e30 ? Math.max(err, e) : Double.POSITIVE_INFINITY;
            }
            double us = time(call, copies, label);
            boolean ok = err <= 1e-3;
            return row(label, us, baseUs, n, k, info, cfg, err, ok ? "" : "MISMATCH");
        } catch (Cuda.CudaException e) {
            return new Row(String.format("%-8s %s", label, e.getMessage()), 0, false);
        }
    }

    static Row row(String label, double us, double baseUs, int n, int k, String info, String cfg, double err, String note) {
        String text = String.format("%-8s %9.1f %7.0f %6.2f %16s %s %8.1e  %s", label, us, 2.0 * n * k / (us * 1e3), baseUs / us,
                info, cfg.isEmpty() ? String.format("%46s", "") : cfg, err, note);
        return new Row(text, us, note.isEmpty());
    }

    /** Runs call once on copy 0 (out pre-filled with NaN) and reads back M*N values, summed over split slices. */
    static float[] result(Call call, int mn, int splits, String what) {
        check(cuMemsetD32Async(out, 0x7fc00000, (long) mn * splits, stream), "cuMemsetD32Async");
        checkCublas(call.run(0), what);
        check(cuStreamSynchronize(stream), what);
        float[] all = new float[mn * splits], r = new float[mn];
        try (FloatPointer fp = new FloatPointer((long) mn * splits)) {
            check(cuMemcpyDtoH(fp, out, 4L * mn * splits), "cuMemcpyDtoH");
            fp.get(all);
        }
        for (int s = 0; s < splits; s++) for (int i = 0; i < mn; i++) r[i] += all[s * mn + i];
        return r;
    }

    /** Mean microseconds per call: 5 warm-up calls, then reps timed with events, rotating through the copies. */
    static double time(Call call, int copies, String what) {
        for (int i = 0; i < 5; i++) checkCublas(call.run(i % copies), what);
        check(cuEventRecord(e0, stream), "cuEventRecord");
        for (int i = 0; i < reps; i++) checkCublas(call.run((i + 5) % copies), what);
        check(cuEventRecord(e1, stream), "cuEventRecord");
        check(cuEventSynchronize(e1), what);
        float[] ms = new float[1];
        check(cuEventElapsedTime(ms, e0, e1), "cuEventElapsedTime");
        return ms[0] * 1e3 / reps;
    }

    static cublasLtMatrixLayoutOpaque_t layout(int type, long rows, long cols, long ld) {
        PointerPointer<?> pp = new PointerPointer<>(1);
        checkCublas(cublasLtMatrixLayoutCreate(pp, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return new cublasLtMatrixLayoutOpaque_t(pp.get(0));
    }

    /** The algo's config attributes; each read at the size cuBLASLt reports for it, "-" where that fails. */
    static String config(cublasLtMatmulAlgo_t algo) {
        int[] attrs = {CUBLASLT_ALGO_CONFIG_ID, CUBLASLT_ALGO_CONFIG_TILE_ID, CUBLASLT_ALGO_CONFIG_SPLITK_NUM,
                CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, CUBLASLT_ALGO_CONFIG_STAGES_ID,
                CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID};
        int[] widths = {5, 6, 4, 4, 6, 7, 8};
        StringBuilder sb = new StringBuilder();
        try (LongPointer v = new LongPointer(1); SizeTPointer size = new SizeTPointer(1)) {
            for (int i = 0; i < attrs.length; i++) {
                v.put(0L);
                size.put(0L);
                int st = cublasLtMatmulAlgoConfigGetAttribute(algo, attrs[i], null, 0, size);
                long sz = size.get();
                if (st == 0 && sz >= 1 && sz <= 8) st = cublasLtMatmulAlgoConfigGetAttribute(algo, attrs[i], v, sz, size);
                else if (st == 0) st = -1;
                sb.append(String.format(" %" + widths[i] + "s", st == 0 ? Long.toString(v.get()) : "-"));
            }
        }
        return sb.toString().substring(1);
    }

    /** Fills elems bf16 values of a small varied pattern (mostly positive, no sums near 0), period 1000003. */
    static void fill(long dst, long elems, int salt) {
        int p = (int) Math.min(elems, 1_000_003);
        short[] h = new short[p];
        for (int i = 0; i < p; i++) {
            int b = (int) (((i + salt * 7919L) * 2654435761L) >>> 11) & 255;
            h[i] = (short) (Float.floatToRawIntBits((b - 64) / 256f) >>> 16);
        }
        try (ShortPointer sp = new ShortPointer(h)) { check(cuMemcpyHtoD(dst, sp, 2L * p), "cuMemcpyHtoD"); }
        for (long done = p; done < elems; ) {
            long c = Math.min(done, elems - done);
            check(cuMemcpyDtoD(dst + 2 * done, dst, 2 * c), "cuMemcpyDtoD");
            done += c;
        }
    }
}
