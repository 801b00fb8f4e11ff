package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static io.mistralflink.model.compute.cpu.MatMul.F;
import static io.mistralflink.model.compute.cpu.MatMul.L;

/**
 * out[r][j] = sum_k x[r][k] * W[j][k] for matrices of fewer than {@value #MAX_K} inputs, as a sum of outer
 * products: W is packed once, k-major, so that the weights of L consecutive outputs at one k are one vector;
 * a vector of L outputs then accumulates W[j..j+L)[k] * x[r][k] over k, x[r][k] broadcast, and needs no sum
 * across lanes at the end. {@link MatMul}'s order (an L-lane chain over k per output, then its lanes summed)
 * pays that sum per output: at k = 256 it costs as much as the output's multiply-adds.
 *
 * <p>Each output is one fused-multiply-add chain over k = 0, 1, ..., k-1, starting from zero, in one lane,
 * whatever tile, thread or number of rows computes it: a row's result is bitwise the same alone and beside any
 * batch-mates. The order depends on the matrix (its width), never on the call.
 *
 * <p>The packed copy is the matrix's size again (float32 for f16 and f32 matrices, bf16 for bf16 ones): 10.5 MB for
 * tiny-mistral.
 */
final class OuterProduct {
    /**
     * Matrices narrower than this are served here: every matrix of the tiny checkpoints, none of a 7B model, whose
     * 4,096-wide matrices pay MatMul's lane sum once per 256 vector multiply-adds and would need a second copy (14 GB).
     */
    static final int MAX_K = 1024;
    /** Outputs of a group, the unit of packing and of work: four vectors. */
    static final int G = 4 * L;
    /** Rows of the many-row tile: 6 rows x 4 vectors is 24 accumulators, 4 weight vectors and one broadcast of 32 registers. */
    static final int ROWS = 6;
    /**
     * Rows a unit of work takes at most (a multiple of ROWS): 96 rows of 1,023 floats stay in L2 beside a panel while
     * the unit passes. Unblocked, 512 rows ran at 102 GFLOP/s on two threads against 145-174 for 64.
     */
    static final int BLOCK_ROWS = 96;
    /** From this many rows on, a group's bf16 weights are widened once into a float32 panel that the row tiles share. */
    static final int PANEL_ROWS = 4;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    /**
     * W k-major in groups of G outputs: element (j, i) at ((j / G) * k + i) * G + j % G, outputs past n zero;
     * {@code type} is MatMul's BF16 (bf16 kept) or F32 (f16 and f32 widened exactly).
     */
    record Packed(MemorySegment data, int n, int k, int type) {
        int groups() { return (n + G - 1) / G; }
        int bytes() { return type == MatMul.BF16 ? 2 : 4; }
    }

    private OuterProduct() {}

    static boolean serves(Tensor w) { return w.shape().length == 2 && w.cols() < MAX_K; }

    static Packed pack(Tensor w) {
        int n = w.rows(), k = w.cols(), stored = MatMul.type(w), b = w.dtype().bytes;
        boolean bf16 = w.dtype() == DType.BF16;
        MemorySegment src = w.data(), d = Arena.ofAuto().allocate((long) (n + G - 1) / G * k * G * (bf16 ? 2 : 4), 64);
        for (int j = 0; j < n; j++)
            for (int i = 0; i < k; i++) {
                long at = ((long) (j / G) * k + i) * G + j % G, from = ((long) j * k + i) * b;
                if (bf16) d.set(SHORT, at * 2, src.get(SHORT, from));
                else d.set(FLOAT, at * 4, MatMul.scalar(src, from, stored));
            }
        return new Packed(d, n, k, bf16 ? MatMul.BF16 : MatMul.F32);
    }

    /** The widened panel of one group (G x MAX_K float32, 64-byte aligned), per thread. */
    private static final ThreadLocal<MemorySegment> PANEL =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate((long) G * MAX_K * Float.BYTES, 64));

    /** Rows [r0, r1) of out (rows of p.n) for the outputs of groups [g0, g1). */
    static void groups(float[] x, int r0, int r1, Packed p, float[] out, int g0, int g1) {
        int k = p.k, n = p.n;
        for (int g = g0; g < g1; g++) {
            int j = g * G, jEnd = Math.min(n, j + G);
            long go = (long) g * k * G * p.bytes();
            if (r1 - r0 < PANEL_ROWS) {
                for (int r = r0; r < r1; r++) row(x, r * k, k, p.data, go, p.type, out, r * n, j, jEnd);
                continue;
            }
            MemorySegment panel = p.data;
            long po = go;
            if (p.type == MatMul.BF16) {
                panel = PANEL.get();
                po = 0;
                for (int v = 0; v < k * (G / L); v++) // the group's k steps of G / L vectors each
                    MatMul.load(p.data, go + (long) v * L * 2, MatMul.BF16).intoMemorySegment(panel, (long) v * L * Float.BYTES, LE);
            }
            for (int r = r0; r < r1; r += ROWS) tile(x, r, Math.min(r + ROWS, r1), k, panel, po, out, n, j, jEnd);
        }
    }

    /** One row by one group, the weights widened in registers (decode steps of few sequences). */
    private static void row(float[] x, int xo, int k, MemorySegment w, long wo, int type, float[] out, int oo, int j, int jEnd) {
        int b = type == MatMul.BF16 ? 2 : 4;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < k; i++) {
            long wi = wo + (long) i * G * b;
            FloatVector xv = FloatVector.broadcast(F, x[xo + i]);
            a0 = MatMul.load(w, wi, type).fma(xv, a0);
            a1 = MatMul.load(w, wi + (long) L * b, type).fma(xv, a1);
            a2 = MatMul.load(w, wi + 2L * L * b, type).fma(xv, a2);
            a3 = MatMul.load(w, wi + 3L * L * b, type).fma(xv, a3);
        }
        store(a0, out, oo, j, jEnd);
        store(a1, out, oo, j + L, jEnd);
        store(a2, out, oo, j + 2 * L, jEnd);
        store(a3, out, oo, j + 3 * L, jEnd);
    }

    /**
     * Rows [r, rEnd) (at most 6) by one group over a float32 panel at byte offset po; a short tile repeats its last
     * row (computed, never stored).
     */
    private static void tile(float[] x, int r, int rEnd, int k, MemorySegment p, long po, float[] out, int n, int j, int jEnd) {
        int last = rEnd - 1;
        int x0 = r * k, x1 = Math.min(r + 1, last) * k, x2 = Math.min(r + 2, last) * k;
        int x3 = Math.min(r + 3, last) * k, x4 = Math.min(r + 4, last) * k, x5 = Math.min(r + 5, last) * k;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00,
                a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00,
                a40 = a00, a41 = a00, a42 = a00, a43 = a00, a50 = a00, a51 = a00, a52 = a00, a53 = a00;
        for (int i = 0; i < k; i++) {
            long wi = po + (long) i * G * Float.BYTES;
            FloatVector w0 = FloatVector.fromMemorySegment(F, p, wi, LE), w1 = FloatVector.fromMemorySegment(F, p, wi + L * Float.BYTES, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, p, wi + 2 * L * Float.BYTES, LE), w3 = FloatVector.fromMemorySegment(F, p, wi + 3 * L * Float.BYTES, LE);
            FloatVector xv = FloatVector.broadcast(F, x[x0 + i]);
            a00 = w0.fma(xv, a00); a01 = w1.fma(xv, a01); a02 = w2.fma(xv, a02); a03 = w3.fma(xv, a03);
            xv = FloatVector.broadcast(F, x[x1 + i]);
            a10 = w0.fma(xv, a10); a11 = w1.fma(xv, a11); a12 = w2.fma(xv, a12); a13 = w3.fma(xv, a13);
            xv = FloatVector.broadcast(F, x[x2 + i]);
            a20 = w0.fma(xv, a20); a21 = w1.fma(xv, a21); a22 = w2.fma(xv, a22); a23 = w3.fma(xv, a23);
            xv = FloatVector.broadcast(F, x[x3 + i]);
            a30 = w0.fma(xv, a30); a31 = w1.fma(xv, a31); a32 = w2.fma(xv, a32); a33 = w3.fma(xv, a33);
            xv = FloatVector.broadcast(F, x[x4 + i]);
            a40 = w0.fma(xv, a40); a41 = w1.fma(xv, a41); a42 = w2.fma(xv, a42); a43 = w3.fma(xv, a43);
            xv = FloatVector.broadcast(F, x[x5 + i]);
            a50 = w0.fma(xv, a50); a51 = w1.fma(xv, a51); a52 = w2.fma(xv, a52); a53 = w3.fma(xv, a53);
        }
        int rows = rEnd - r, o = r * n;
        store(a00, out, o, j, jEnd); store(a01, out, o, j + L, jEnd); store(a02, out, o, j + 2 * L, jEnd); store(a03, out, o, j + 3 * L, jEnd);
        if (rows > 1) { o += n; store(a10, out, o, j, jEnd); store(a11, out, o, j + L, jEnd); store(a12, out, o, j + 2 * L, jEnd); store(a13, out, o, j + 3 * L, jEnd); }
        if (rows > 2) { o += n; store(a20, out, o, j, jEnd); store(a21, out, o, j + L, jEnd); store(a22, out, o, j + 2 * L, jEnd); store(a23, out, o, j + 3 * L, jEnd); }
        if (rows > 3) { o += n; store(a30, out, o, j, jEnd); store(a31, out, o, j + L, jEnd); store(a32, out, o, j + 2 * L, jEnd); store(a33, out, o, j + 3 * L, jEnd); }
        if (rows > 4) { o += n; store(a40, out, o, j, jEnd); store(a41, out, o, j + L, jEnd); store(a42, out, o, j + 2 * L, jEnd); store(a43, out, o, j + 3 * L, jEnd); }
        if (rows > 5) { o += n; store(a50, out, o, j, jEnd); store(a51, out, o, j + L, jEnd); store(a52, out, o, j + 2 * L, jEnd); store(a53, out, o, j + 3 * L, jEnd); }
    }

    /** Outputs [j, min(j + L, jEnd)) of the row starting at out[o]. */
    private static void store(FloatVector v, float[] out, int o, int j, int jEnd) {
        if (j + L <= jEnd) v.intoArray(out, o + j);
        else if (j < jEnd) v.intoArray(out, o + j, VectorMask.fromLong(F, (1L << (jEnd - j)) - 1));
    }
}
