package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * out[r][j] = sum_k x[r][k] * W[j][k], reading W in its stored type (bf16 and f16 are widened in
 * registers, never copied to float32). Each output element is one fused-multiply-add chain over k in
 * a fixed order, reduced in a fixed order, whatever tile computes it: a row's result does not depend
 * on how many rows share the call (batch invariance, bit for bit).
 */
final class MatMul {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final int BF16 = 0, F16 = 1, F32 = 2;

    private MatMul() {}

    /**
     * From this many rows on, {@link Gemm}'s blocked product (bitwise the same) replaces the tiles below:
     * below it (decode steps of a few sequences) the work is bound by streaming the weights, and Gemm's
     * 6-row tiles would compute padding rows.
     */
    static final int GEMM_ROWS = 12;

    static int type(Tensor w) { return switch (w.dtype()) { case BF16 -> BF16; case F16 -> F16; case F32 -> F32; }; }

    /** Output columns [j0, j1) for rows [r0, r1) (x and out hold the same rows). */
    static void columns(float[] x, int r0, int r1, Tensor w, float[] out, int j0, int j1) {
        if (r1 - r0 >= GEMM_ROWS && w.cols() >= L) { Gemm.columns(x, r0, r1, w, out, j0, j1); return; }
        columnsByTiles(x, r0, r1, w, out, j0, j1);
    }

    /**
     * {@link #columns} by tiles that widen the weights in registers (the bandwidth-bound path of few rows): 8 rows x 3
     * outputs where there are 8 rows (a decode step of 8 sequences widens each weight once, where 2 x 4 tiles did it
     * four times), then 2 x 4 and 1 x 4.
     */
    static void columnsByTiles(float[] x, int r0, int r1, Tensor w, float[] out, int j0, int j1) {
        int k = w.cols(), outCols = w.rows(), type = type(w);
        MemorySegment seg = w.data();
        long rowBytes = (long) k * w.dtype().bytes;
        float[] lanes = new float[L * 24];
        for (; r0 + 8 <= r1; r0 += 8) {
            int j = j0;
            for (; j + 3 <= j1; j += 3) tile8x3(x, r0, k, seg, j, rowBytes, type, out, outCols, lanes);
            for (; j < j1; j++)
                for (int r = r0; r < r0 + 8; r++) out[r * outCols + j] = dot1(x, r * k, k, seg, j * rowBytes, type, lanes);
        }
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            int r = r0;
            for (; r + 2 <= r1; r += 2) tile2x4(x, r, k, seg, j, rowBytes, type, out, outCols, lanes);
            for (; r < r1; r++) tile1x4(x, r, k, seg, j, rowBytes, type, out, outCols, lanes);
        }
        for (; j < j1; j++)
            for (int r = r0; r < r1; r++) out[r * outCols + j] = dot1(x, r * k, k, seg, j * rowBytes, type, lanes);
    }

    static FloatVector load(MemorySegment seg, long off, int type) {
        return switch (type) {
            case BF16 -> ((IntVector) ShortVector.fromMemorySegment(S, seg, off, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            case F16 -> {
                IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, off, LE).convertShape(VectorOperators.S2I, I, 0);
                // half -> float: move exponent and mantissa into place, rebias by multiplying by 2^112 (exact,
                // subnormals included), then restore the sign.
                FloatVector mag = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
                yield mag.reinterpretAsInts().or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            }
            default -> FloatVector.fromMemorySegment(F, seg, off, LE);
        };
    }

    static float scalar(MemorySegment seg, long off, int type) {
        return switch (type) {
            case BF16 -> Float.intBitsToFloat(seg.get(SHORT, off) << 16);
            case F16 -> Float.float16ToFloat(seg.get(SHORT, off));
            default -> seg.get(FLOAT, off);
        };
    }

    /**
     * Sum of a vector's lanes in a fixed pairwise order: lane i + lane i+L/2, and so on down to one.
     * reduceLanes leaves the order open (and it differs between the interpreter and compiled code),
     * which would break batch invariance. The halving runs on the lanes stored in an array: splitting the
     * vector into half-width species extracts lanes through a path C2 does not intrinsify.
     */
    static float sum(FloatVector v, float[] lanes) {
        v.intoArray(lanes, 0);
        return sum(lanes, 0);
    }

    /**
     * {@link #sum(FloatVector, float[])} of the L lanes stored at a[at..at+L) (which the general case
     * overwrites). For 16 lanes the same tree in locals: the in-place halving waits on a store at each
     * level, and for short k that cost more than the output's FMAs.
     */
    static float sum(float[] a, int at) {
        if (L == 16) {
            float s0 = a[at] + a[at + 8], s1 = a[at + 1] + a[at + 9], s2 = a[at + 2] + a[at + 10], s3 = a[at + 3] + a[at + 11];
            float s4 = a[at + 4] + a[at + 12], s5 = a[at + 5] + a[at + 13], s6 = a[at + 6] + a[at + 14], s7 = a[at + 7] + a[at + 15];
            float t0 = s0 + s4, t1 = s1 + s5, t2 = s2 + s6, t3 = s3 + s7;
            return (t0 + t2) + (t1 + t3);
        }
        for (int w = L / 2; w > 0; w >>= 1)
            for (int i = at; i < at + w; i++) a[i] += a[i + w];
        return a[at];
    }

    private static float dot1(float[] x, int xo, int k, MemorySegment seg, long wo, int type, float[] lanes) {
        FloatVector acc = FloatVector.zero(F);
        int b = type == F32 ? 4 : 2, i = 0;
        for (; i + L <= k; i += L) acc = load(seg, wo + (long) i * b, type).fma(FloatVector.fromArray(F, x, xo + i), acc);
        float s = sum(acc, lanes);
        for (; i < k; i++) s = Math.fma(scalar(seg, wo + (long) i * b, type), x[xo + i], s);
        return s;
    }

    private static void tile8x3(float[] x, int r, int k, MemorySegment seg, int j, long rowBytes, int type,
                                float[] out, int outCols, float[] lanes) {
        int xo = r * k, b = type == F32 ? 4 : 2, i = 0;
        long w0 = j * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00, a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00, a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
        for (; i + L <= k; i += L) {
            long o = (long) i * b;
            FloatVector v0 = load(seg, w0 + o, type), v1 = load(seg, w1 + o, type), v2 = load(seg, w2 + o, type);
            FloatVector xv = FloatVector.fromArray(F, x, xo + 0 * k + i);
            a00 = v0.fma(xv, a00); a01 = v1.fma(xv, a01); a02 = v2.fma(xv, a02);
            xv = FloatVector.fromArray(F, x, xo + 1 * k + i);
            a10 = v0.fma(xv, a10); a11 = v1.fma(xv, a11); a12 = v2.fma(xv, a12);
            xv = FloatVector.fromArray(F, x, xo + 2 * k + i);
            a20 = v0.fma(xv, a20); a21 = v1.fma(xv, a21); a22 = v2.fma(xv, a22);
            xv = FloatVector.fromArray(F, x, xo + 3 * k + i);
            a30 = v0.fma(xv, a30); a31 = v1.fma(xv, a31); a32 = v2.fma(xv, a32);
            xv = FloatVector.fromArray(F, x, xo + 4 * k + i);
            a40 = v0.fma(xv, a40); a41 = v1.fma(xv, a41); a42 = v2.fma(xv, a42);
            xv = FloatVector.fromArray(F, x, xo + 5 * k + i);
            a50 = v0.fma(xv, a50); a51 = v1.fma(xv, a51); a52 = v2.fma(xv, a52);
            xv = FloatVector.fromArray(F, x, xo + 6 * k + i);
            a60 = v0.fma(xv, a60); a61 = v1.fma(xv, a61); a62 = v2.fma(xv, a62);
            xv = FloatVector.fromArray(F, x, xo + 7 * k + i);
            a70 = v0.fma(xv, a70); a71 = v1.fma(xv, a71); a72 = v2.fma(xv, a72);
        }
        // the accumulators to memory first: summed through a call, each vector would be boxed
        a00.intoArray(lanes, 0 * L); a01.intoArray(lanes, 1 * L); a02.intoArray(lanes, 2 * L);
        a10.intoArray(lanes, 3 * L); a11.intoArray(lanes, 4 * L); a12.intoArray(lanes, 5 * L);
        a20.intoArray(lanes, 6 * L); a21.intoArray(lanes, 7 * L); a22.intoArray(lanes, 8 * L);
        a30.intoArray(lanes, 9 * L); a31.intoArray(lanes, 10 * L); a32.intoArray(lanes, 11 * L);
        a40.intoArray(lanes, 12 * L); a41.intoArray(lanes, 13 * L); a42.intoArray(lanes, 14 * L);
        a50.intoArray(lanes, 15 * L); a51.intoArray(lanes, 16 * L); a52.intoArray(lanes, 17 * L);
        a60.intoArray(lanes, 18 * L); a61.intoArray(lanes, 19 * L); a62.intoArray(lanes, 20 * L);
        a70.intoArray(lanes, 21 * L); a71.intoArray(lanes, 22 * L); a72.intoArray(lanes, 23 * L);
        for (int rr = 0; rr < 8; rr++)
            for (int c = 0; c < 3; c++)
                out[(r + rr) * outCols + j + c] = tail(sum(lanes, (rr * 3 + c) * L), x, xo + rr * k, i, k, seg, w0 + c * rowBytes, type);
    }

    private static void tile1x4(float[] x, int r, int k, MemorySegment seg, int j, long rowBytes, int type,
                                float[] out, int outCols, float[] lanes) {
        int xo = r * k, b = type == F32 ? 4 : 2, i = 0;
        long w0 = j * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (; i + L <= k; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long o = (long) i * b;
            a0 = load(seg, w0 + o, type).fma(xv, a0);
            a1 = load(seg, w1 + o, type).fma(xv, a1);
            a2 = load(seg, w2 + o, type).fma(xv, a2);
            a3 = load(seg, w3 + o, type).fma(xv, a3);
        }
        int base = r * outCols + j;
        out[base] = tail(sum(a0, lanes), x, xo, i, k, seg, w0, type);
        out[base + 1] = tail(sum(a1, lanes), x, xo, i, k, seg, w1, type);
        out[base + 2] = tail(sum(a2, lanes), x, xo, i, k, seg, w2, type);
        out[base + 3] = tail(sum(a3, lanes), x, xo, i, k, seg, w3, type);
    }

    private static void tile2x4(float[] x, int r, int k, MemorySegment seg, int j, long rowBytes, int type,
                                float[] out, int outCols, float[] lanes) {
        int xo = r * k, yo = xo + k, b = type == F32 ? 4 : 2, i = 0;
        long w0 = j * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        for (; i + L <= k; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i), yv = FloatVector.fromArray(F, x, yo + i);
            long o = (long) i * b;
            FloatVector v0 = load(seg, w0 + o, type), v1 = load(seg, w1 + o, type);
            FloatVector v2 = load(seg, w2 + o, type), v3 = load(seg, w3 + o, type);
            a0 = v0.fma(xv, a0); c0 = v0.fma(yv, c0);
            a1 = v1.fma(xv, a1); c1 = v1.fma(yv, c1);
            a2 = v2.fma(xv, a2); c2 = v2.fma(yv, c2);
            a3 = v3.fma(xv, a3); c3 = v3.fma(yv, c3);
        }
        int base = r * outCols + j, next = base + outCols;
        out[base] = tail(sum(a0, lanes), x, xo, i, k, seg, w0, type);
        out[base + 1] = tail(sum(a1, lanes), x, xo, i, k, seg, w1, type);
        out[base + 2] = tail(sum(a2, lanes), x, xo, i, k, seg, w2, type);
        out[base + 3] = tail(sum(a3, lanes), x, xo, i, k, seg, w3, type);
        out[next] = tail(sum(c0, lanes), x, yo, i, k, seg, w0, type);
        out[next + 1] = tail(sum(c1, lanes), x, yo, i, k, seg, w1, type);
        out[next + 2] = tail(sum(c2, lanes), x, yo, i, k, seg, w2, type);
        out[next + 3] = tail(sum(c3, lanes), x, yo, i, k, seg, w3, type);
    }

    static float tail(float s, float[] x, int xo, int i, int k, MemorySegment seg, long wo, int type) {
        int b = type == F32 ? 4 : 2;
        for (; i < k; i++) s = Math.fma(scalar(seg, wo + (long) i * b, type), x[xo + i], s);
        return s;
    }

    /** Row j of W widened to float (embedding lookup). */
    static void row(Tensor w, int j, float[] out, int outOffset) {
        int k = w.cols(), type = type(w), b = w.dtype().bytes;
        long wo = (long) j * k * b;
        for (int i = 0; i < k; i++) out[outOffset + i] = scalar(w.data(), wo + (long) i * b, type);
    }
}
