package io.mistralflink.model.compute.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * exp in float32 vectors by a fixed sequence of correctly rounded operations (Cody and Waite's reduction,
 * Cephes' degree-6 polynomial for expf): within 2 units in the last place of exp over [-87, 88]. The JDK's
 * own vector exp ({@code VectorOperators.EXP}) is a native routine once C2 compiles it and
 * {@code Math.exp} per lane before: the same input can give other bits before and after compilation, so
 * a sequence's logits would depend on when it ran. These operations give the same bits in every tier.
 */
final class VectorExp {
    private VectorExp() {}

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** 1.5 x 2^23: adding it rounds to an integer, which the low bits of the sum then hold. */
    private static final float ROUND = 12582912f;
    private static final int ROUND_BITS = 0x4B400000;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f,
            P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /** exp of each lane; inputs below -87.3 give about 1e-38, above 88.3 about 2e38 (no infinities, no subnormals). */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87.3f).min(88.3f);
        FloatVector t = x.fma(LOG2E, ROUND);        // n + ROUND, n = x log2(e) rounded to nearest
        FloatVector n = t.sub(ROUND);
        IntVector ni = t.reinterpretAsInts().sub(ROUND_BITS);
        FloatVector r = x.sub(n.mul(LN2_HI));       // exact: LN2_HI has 9 bits, n at most 8
        r = n.fma(c(-LN2_LO), r);                   // x - n ln2, the second part fused
        FloatVector p = r.fma(P0, P1);
        p = p.fma(r, c(P2)).fma(r, c(P3)).fma(r, c(P4)).fma(r, c(P5));
        p = p.fma(r.mul(r), r).add(1f);             // 1 + r + r^2 P(r)
        return p.mul(ni.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
    }

    private static FloatVector c(float v) { return FloatVector.broadcast(MatMul.F, v); }
}
