package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.Tensor;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static io.mistralflink.model.compute.cpu.MatMul.F;
import static io.mistralflink.model.compute.cpu.MatMul.L;

/**
 * MatMul's product for many rows, blocked for the caches as in Goto's GEMM: a panel of NC outputs x KC
 * of k is widened to float32 once (into L2) and serves every row of a block of MC rows; register tiles
 * of 6 rows x 4 outputs (24 accumulators, 4 weight vectors and one input vector of the 32 registers)
 * run over it, reading the tile's six rows (six streams of KC floats, in L1 while the tile walks the
 * panel's outputs).
 *
 * <p>The panel and a copy of the rows (staged once per call) lie in native memory aligned to 64 bytes,
 * so every vector load is one cache line: a float[]'s elements start 16 bytes into a line, and a 64-byte
 * load from one spans two lines (two L1 accesses). Aligned, the 10 loads of a k step no longer compete
 * with the 24 FMAs for the load ports (profile: the tile took 72% of a 7B prefill).
 *
 * <p>Each output is computed in exactly MatMul's order: one L-lane fused-multiply-add chain over k
 * (lane l takes k = l, l+L, ...), the lanes summed pairwise ({@link MatMul#sum}), then the last k mod L
 * terms as scalar FMAs. The k blocks only pause that chain (its vector waits in a scratch buffer between
 * blocks), never reorder it, so the result is bitwise MatMul's, whatever the tile or the number of
 * rows: batch invariance holds across both paths.
 */
final class Gemm {
    static final int ROWS = 6, COLS = 4;
    /**
     * k per panel (steps of L), outputs per panel, rows per block (multiples of the tile). A weight is widened
     * once per block of MC rows: 132 rows widen it once for a 128-token prompt (48 did it three times, a third
     * of the product's time in the profile). The panel (256 KB) stays in L2; KC 1,024 halves the pauses of the
     * accumulators against 512 (1.1-1.3x at k = 4,096 and 14,336; 256 and 2,048 were slower or no better).
     */
    static final int KC = 1024, NC = 64, MC = 132;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Per thread: the widened panel, the staged rows and the accumulators of a block of rows by a panel's outputs. */
    private static final class Scratch {
        final MemorySegment panel = Arena.ofAuto().allocate((long) NC * KC * Float.BYTES, 64);
        final float[] acc = new float[MC * NC * L];
        MemorySegment rows = MemorySegment.NULL;

        /** Rows [r0, r1) of x copied to 64-byte-aligned rows of kPad floats (kPad: k rounded up to L). */
        MemorySegment stage(float[] x, int r0, int r1, int k, int kPad) {
            long bytes = (long) (r1 - r0) * kPad * Float.BYTES;
            if (rows.byteSize() < bytes) rows = Arena.ofAuto().allocate(bytes, 64);
            for (int r = r0; r < r1; r++) MemorySegment.copy(x, r * k, rows, ValueLayout.JAVA_FLOAT, (long) (r - r0) * kPad * Float.BYTES, k);
            return rows;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Gemm() {}

    /** Output columns [j0, j1) for rows [r0, r1), as {@link MatMul#columns}; needs k >= L. */
    static void columns(float[] x, int r0, int r1, Tensor w, float[] out, int j0, int j1) {
        int k = w.cols(), outCols = w.rows(), type = MatMul.type(w);
        int kVec = k - k % L, b = w.dtype().bytes;
        long rowBytes = (long) k * b;
        MemorySegment seg = w.data();
        Scratch s = SCRATCH.get();
        int kPad = kVec == k ? k : kVec + L;
        MemorySegment xs = s.stage(x, r0, r1, k, kPad);
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc), tilesN = (nc + COLS - 1) / COLS;
            for (int ic = r0; ic < r1; ic += MC) {
                int mc = Math.min(MC, r1 - ic);
                for (int kc = 0; kc < kVec; kc += KC) {
                    int steps = Math.min(KC, kVec - kc) / L;
                    pack(seg, jc, nc, tilesN, kc, steps, rowBytes, b, type, s.panel);
                    for (int rt = 0; rt * ROWS < mc; rt++) {
                        // a short last tile repeats its last row (the repeats are computed, never stored)
                        int last = ic + mc - 1 - r0, r = ic + rt * ROWS - r0;
                        long x0 = at(r, kPad, kc), x1 = at(Math.min(r + 1, last), kPad, kc), x2 = at(Math.min(r + 2, last), kPad, kc);
                        long x3 = at(Math.min(r + 3, last), kPad, kc), x4 = at(Math.min(r + 4, last), kPad, kc), x5 = at(Math.min(r + 5, last), kPad, kc);
                        for (int t = 0; t < tilesN; t++)
                            kernel(xs, x0, x1, x2, x3, x4, x5, s.panel, (long) t * steps * COLS * L * Float.BYTES, steps,
                                    s.acc, (rt * tilesN + t) * ROWS * COLS * L, kc == 0);
                    }
                }
                for (int r = ic; r < ic + mc; r++) {
                    int rt = (r - ic) / ROWS, rr = (r - ic) % ROWS, xo = r * k;
                    for (int j = jc; j < jc + nc; j++) {
                        int t = (j - jc) / COLS, c = (j - jc) % COLS;
                        float sum = MatMul.sum(s.acc, ((rt * tilesN + t) * ROWS * COLS + rr * COLS + c) * L);
                        out[r * outCols + j] = MatMul.tail(sum, x, xo, kVec, k, seg, j * rowBytes, type);
                    }
                }
            }
        }
    }

    /** Byte offset of staged row r at k = kc. */
    private static long at(int r, int kPad, int kc) { return ((long) r * kPad + kc) * Float.BYTES; }

    /** Widens W[jc .. jc+nc)[kc .. kc + steps*L) to float32, tile by tile, step by step; outputs past nc are zero. */
    private static void pack(MemorySegment seg, int jc, int nc, int tilesN, int kc, int steps, long rowBytes, int b, int type, MemorySegment panel) {
        for (int t = 0; t < tilesN; t++)
            for (int c = 0; c < COLS; c++) {
                int j = t * COLS + c;
                int at = (t * steps * COLS + c) * L;
                if (j >= nc) {
                    for (int st = 0; st < steps; st++) panel.asSlice((long) (at + st * COLS * L) * Float.BYTES, (long) L * Float.BYTES).fill((byte) 0);
                    continue;
                }
                long wo = (jc + j) * rowBytes + (long) kc * b;
                for (int st = 0; st < steps; st++)
                    MatMul.load(seg, wo + (long) st * L * b, type).intoMemorySegment(panel, (long) (at + st * COLS * L) * Float.BYTES, LE);
            }
    }

    /**
     * The 6 x 4 register tile: acc[r][c] continues (or, first, starts) its chain over this panel's steps; x0..x5
     * and po are byte offsets of the six staged rows and of the tile's panel.
     */
    static void kernel(MemorySegment x, long x0, long x1, long x2, long x3, long x4, long x5, MemorySegment p, long po, int steps,
                       float[] acc, int ao, boolean first) {
        FloatVector a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23,
                a30, a31, a32, a33, a40, a41, a42, a43, a50, a51, a52, a53;
        if (first) {
            a00 = FloatVector.zero(F);
            a01 = a00; a02 = a00; a03 = a00; a10 = a00; a11 = a00; a12 = a00; a13 = a00;
            a20 = a00; a21 = a00; a22 = a00; a23 = a00; a30 = a00; a31 = a00; a32 = a00; a33 = a00;
            a40 = a00; a41 = a00; a42 = a00; a43 = a00; a50 = a00; a51 = a00; a52 = a00; a53 = a00;
        } else {
            a00 = v(acc, ao, 0); a01 = v(acc, ao, 1); a02 = v(acc, ao, 2); a03 = v(acc, ao, 3);
            a10 = v(acc, ao, 4); a11 = v(acc, ao, 5); a12 = v(acc, ao, 6); a13 = v(acc, ao, 7);
            a20 = v(acc, ao, 8); a21 = v(acc, ao, 9); a22 = v(acc, ao, 10); a23 = v(acc, ao, 11);
            a30 = v(acc, ao, 12); a31 = v(acc, ao, 13); a32 = v(acc, ao, 14); a33 = v(acc, ao, 15);
            a40 = v(acc, ao, 16); a41 = v(acc, ao, 17); a42 = v(acc, ao, 18); a43 = v(acc, ao, 19);
            a50 = v(acc, ao, 20); a51 = v(acc, ao, 21); a52 = v(acc, ao, 22); a53 = v(acc, ao, 23);
        }
        for (int st = 0; st < steps; st++) {
            long wi = po + (long) st * COLS * L * Float.BYTES, xi = (long) st * L * Float.BYTES;
            FloatVector w0 = FloatVector.fromMemorySegment(F, p, wi, LE), w1 = FloatVector.fromMemorySegment(F, p, wi + L * Float.BYTES, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, p, wi + 2 * L * Float.BYTES, LE), w3 = FloatVector.fromMemorySegment(F, p, wi + 3 * L * Float.BYTES, LE);
            FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + xi, LE);
            a00 = w0.fma(xv, a00); a01 = w1.fma(xv, a01); a02 = w2.fma(xv, a02); a03 = w3.fma(xv, a03);
            xv = FloatVector.fromMemorySegment(F, x, x1 + xi, LE);
            a10 = w0.fma(xv, a10); a11 = w1.fma(xv, a11); a12 = w2.fma(xv, a12); a13 = w3.fma(xv, a13);
            xv = FloatVector.fromMemorySegment(F, x, x2 + xi, LE);
            a20 = w0.fma(xv, a20); a21 = w1.fma(xv, a21); a22 = w2.fma(xv, a22); a23 = w3.fma(xv, a23);
            xv = FloatVector.fromMemorySegment(F, x, x3 + xi, LE);
            a30 = w0.fma(xv, a30); a31 = w1.fma(xv, a31); a32 = w2.fma(xv, a32); a33 = w3.fma(xv, a33);
            xv = FloatVector.fromMemorySegment(F, x, x4 + xi, LE);
            a40 = w0.fma(xv, a40); a41 = w1.fma(xv, a41); a42 = w2.fma(xv, a42); a43 = w3.fma(xv, a43);
            xv = FloatVector.fromMemorySegment(F, x, x5 + xi, LE);
            a50 = w0.fma(xv, a50); a51 = w1.fma(xv, a51); a52 = w2.fma(xv, a52); a53 = w3.fma(xv, a53);
        }
        a00.intoArray(acc, ao); a01.intoArray(acc, ao + L); a02.intoArray(acc, ao + 2 * L); a03.intoArray(acc, ao + 3 * L);
        a10.intoArray(acc, ao + 4 * L); a11.intoArray(acc, ao + 5 * L); a12.intoArray(acc, ao + 6 * L); a13.intoArray(acc, ao + 7 * L);
        a20.intoArray(acc, ao + 8 * L); a21.intoArray(acc, ao + 9 * L); a22.intoArray(acc, ao + 10 * L); a23.intoArray(acc, ao + 11 * L);
        a30.intoArray(acc, ao + 12 * L); a31.intoArray(acc, ao + 13 * L); a32.intoArray(acc, ao + 14 * L); a33.intoArray(acc, ao + 15 * L);
        a40.intoArray(acc, ao + 16 * L); a41.intoArray(acc, ao + 17 * L); a42.intoArray(acc, ao + 18 * L); a43.intoArray(acc, ao + 19 * L);
        a50.intoArray(acc, ao + 20 * L); a51.intoArray(acc, ao + 21 * L); a52.intoArray(acc, ao + 22 * L); a53.intoArray(acc, ao + 23 * L);
    }

    private static FloatVector v(float[] acc, int ao, int i) { return FloatVector.fromArray(F, acc, ao + i * L); }
}
