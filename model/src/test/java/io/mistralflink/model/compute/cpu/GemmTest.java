package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The CPU backend's products ({@link CpuBackend#matmul}) against a plain dot product in double, on random shapes with
 * ragged edges (rows 1..67 and MC+1..2 MC, k and outputs not multiples of the vector, the tile or the panel; a few over
 * more than one block of rows), and bitwise batch invariance: each row equals that row multiplied alone, whatever its
 * batch-mates. A fifth of the shapes are at least {@value OuterProduct#MAX_K} wide, the blocked {@link Gemm} (and the
 * few-row tiles for rows alone); the rest are {@link OuterProduct}'s.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GemmTest {
    private final CpuBackend cpu = new CpuBackend(2);
    private final Arena arena = Arena.ofShared();

    @AfterAll void close() {
        cpu.close();
        arena.close();
    }

    @Test void matchesAPlainDotProductAndEachRowAlone() {
        Random rnd = new Random(15);
        DType[] types = {DType.BF16, DType.F16, DType.F32};
        for (int trial = 0; trial < 64; trial++) {
            // the last trials span several of Gemm's row blocks
            int rows = trial < 60 ? 1 + rnd.nextInt(67) : Gemm.MC + 1 + rnd.nextInt(Gemm.MC);
            int k = trial < 3 ? 1 + rnd.nextInt(15) : trial % 5 == 0 ? OuterProduct.MAX_K + rnd.nextInt(400) : 16 + rnd.nextInt(300);
            int n = 1 + rnd.nextInt(trial % 7 == 0 ? 300 : 90);
            DType type = types[trial % 3];
            check(rows, k, n, type, rnd);
        }
    }

    /**
     * Decode steps of 8 to 11 rows of matrices at least {@value OuterProduct#MAX_K} wide: the 8 x 3 tiles (then 2 x 4
     * and 1 x 4 for the rest) against the same bounds, and each row bitwise equal to it alone; k and outputs ragged
     * (outputs not multiples of 3 or 4, k not of the vector). A third are narrow (OuterProduct's panel of 8 rows).
     */
    @Test void eightRowTilesMatchAPlainDotProductAndEachRowAlone() {
        Random rnd = new Random(8);
        DType[] types = {DType.BF16, DType.F16, DType.F32};
        for (int trial = 0; trial < 24; trial++)
            check(8 + trial % 4, trial % 3 == 0 ? 1 + rnd.nextInt(200) : OuterProduct.MAX_K + rnd.nextInt(200), 1 + rnd.nextInt(70), types[trial % 3], rnd);
    }

    private void check(int rows, int k, int n, DType type, Random rnd) {
        Tensor w = randomWeight(type, n, k, rnd);
        float[] x = RandomWeights.gaussian(rnd, rows * k);
        float[] got = product(x, rows, w);

        float[] wf = w.toFloats();
        for (int r = 0; r < rows; r++) {
            float[] alone = product(java.util.Arrays.copyOfRange(x, r * k, (r + 1) * k), 1, w);
            for (int j = 0; j < n; j++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < k; i++) {
                    ref += (double) wf[j * k + i] * x[r * k + i];
                    mag += Math.abs((double) wf[j * k + i] * x[r * k + i]);
                }
                String at = type + " " + rows + "x" + k + " by " + n + "x" + k + ", row " + r + ", output " + j;
                // the error bound of a float32 sum of k products: (k + 1) units in the last place of the magnitudes
                assertEquals(ref, got[r * n + j], (k + 1) * 0x1p-24 * mag + 1e-30, at);
                assertEquals(Float.floatToRawIntBits(alone[j]), Float.floatToRawIntBits(got[r * n + j]), at + ": differs from the row alone");
            }
        }
    }

    private float[] product(float[] x, int rows, Tensor w) {
        CpuBackend.CpuActivation out = (CpuBackend.CpuActivation) cpu.allocate(rows, w.rows());
        cpu.matmul(cpu.upload(x, rows, w.cols()), cpu.weight(w), out);
        return out.data();
    }

    private Tensor randomWeight(DType type, int n, int k, Random rnd) { return RandomWeights.matrix(arena, type, n, k, rnd); }
}
