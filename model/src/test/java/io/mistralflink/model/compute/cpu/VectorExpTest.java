package io.mistralflink.model.compute.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import static io.mistralflink.model.compute.cpu.MatMul.F;
import static io.mistralflink.model.compute.cpu.MatMul.L;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link VectorExp} against exp in double: within 2 units in the last place over [-87, 88], and its clamps. */
class VectorExpTest {
    @Test void withinTwoUlpsOfExp() {
        float[] x = new float[L], e = new float[L];
        double worst = 0;
        for (int i = 0; i < 2_000_000; i += L) {
            for (int l = 0; l < L; l++) x[l] = -87f + 175f * (i + l) / 2_000_000f;
            VectorExp.exp(FloatVector.fromArray(F, x, 0)).intoArray(e, 0);
            for (int l = 0; l < L; l++) {
                double want = Math.exp(x[l]);
                worst = Math.max(worst, Math.abs(e[l] - want) / Math.ulp((float) want));
            }
        }
        assertTrue(worst <= 2, "worst error " + worst + " ulp");
        // the softmax's and SwiGLU's common arguments, exactly
        for (float v : new float[]{0f, -0f, 1f, -1f}) {
            VectorExp.exp(FloatVector.broadcast(F, v)).intoArray(e, 0);
            assertEquals((float) Math.exp(v), e[0], Math.ulp((float) Math.exp(v)), "exp(" + v + ")");
        }
        VectorExp.exp(FloatVector.broadcast(F, -1e30f)).intoArray(e, 0);
        assertTrue(e[0] >= 0 && e[0] < 1e-37f, "exp(-1e30) = " + e[0]);
        VectorExp.exp(FloatVector.broadcast(F, 1e30f)).intoArray(e, 0);
        assertTrue(Float.isFinite(e[0]) && e[0] > 1e38f, "exp(1e30) = " + e[0]);
    }
}
