package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Narrow matrices ({@link OuterProduct}): each output is one FMA chain over k in order, so its bits are fixed by the
 * row and the matrix alone. Checked against that chain written out in scalars (Math.fma over k = 0, 1, ...), on
 * ragged shapes (rows across the panel threshold and the row blocks, outputs not multiples of a group, k from 1 to
 * the limit), on 1, 2 and 3 threads (other splits of rows and groups); the stacked product (q, k, v in one launch)
 * and the fused SwiGLU against their separate steps, also with no rows at all (a pipeline's scoring step can bring
 * none; the units once divided by zero there).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OuterProductTest {
    private final CpuBackend[] backends = {new CpuBackend(1), new CpuBackend(2), new CpuBackend(3)};
    private final Arena arena = Arena.ofShared();

    @AfterAll void close() {
        for (CpuBackend b : backends) b.close();
        arena.close();
    }

    @Test void everyOutputIsItsFmaChainOverKWhateverTheRowsAndThreads() {
        Random rnd = new Random(23);
        DType[] types = {DType.BF16, DType.F16, DType.F32};
        int[] rowCounts = {1, 2, 3, 4, 5, 6, 7, 13, 64, 95, 97, 200};
        for (int trial = 0; trial < 36; trial++) {
            int rows = rowCounts[trial % rowCounts.length];
            int k = trial == 0 ? OuterProduct.MAX_K - 1 : trial < 4 ? 1 + rnd.nextInt(20) : 16 + rnd.nextInt(400);
            int n = trial % 5 == 0 ? OuterProduct.G * (1 + rnd.nextInt(3)) : 1 + rnd.nextInt(300);
            DType type = types[trial % 3];
            Tensor w = weight(type, n, k, rnd);
            float[] x = RandomWeights.gaussian(rnd, rows * k);
            float[] wf = w.toFloats();
            float[] want = new float[rows * n];
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < n; j++) {
                    float s = 0;
                    for (int i = 0; i < k; i++) s = Math.fma(wf[j * k + i], x[r * k + i], s);
                    want[r * n + j] = s;
                }
            for (CpuBackend b : backends) {
                Activation out = b.allocate(rows, n);
                b.matmul(b.upload(x, rows, k), b.weight(w), out);
                String at = type + " " + rows + "x" + k + " by " + n + "x" + k + " on " + b.name();
                assertArrayEquals(bits(want), bits(b.download(out)), at);
            }
        }
    }

    @Test void stackedProductsAndFusedSwiGluAreTheirSeparateSteps() {
        Random rnd = new Random(5);
        CpuBackend b = backends[1];
        for (int rows : new int[]{0, 1, 3, 8, 64, 130}) {
            int k = 256, n = 704;
            Weight gate = b.weight(weight(DType.BF16, n, k, rnd)), up = b.weight(weight(DType.BF16, n, k, rnd));
            Weight q = b.weight(weight(DType.BF16, 256, k, rnd)), kv = b.weight(weight(DType.BF16, 64, k, rnd));
            Activation x = b.upload(RandomWeights.gaussian(rnd, rows * k), rows, k);

            Activation[] stacked = {b.allocate(rows, 256), b.allocate(rows, 64)};
            b.matmul(x, new Weight[]{q, kv}, stacked);
            Activation q1 = b.allocate(rows, 256), kv1 = b.allocate(rows, 64);
            b.matmul(x, q, q1);
            b.matmul(x, kv, kv1);
            assertArrayEquals(bits(b.download(q1)), bits(b.download(stacked[0])), rows + " rows: q");
            assertArrayEquals(bits(b.download(kv1)), bits(b.download(stacked[1])), rows + " rows: k");

            Activation fused = b.allocate(rows, n), g = b.allocate(rows, n), u = b.allocate(rows, n);
            b.swiGlu(x, gate, up, fused);
            b.matmul(x, gate, g);
            b.matmul(x, up, u);
            b.siluMul(g, u);
            assertArrayEquals(bits(b.download(g)), bits(b.download(fused)), rows + " rows: SwiGLU");
        }
    }

    private Tensor weight(DType type, int n, int k, Random rnd) { return RandomWeights.matrix(arena, type, n, k, rnd); }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) b[i] = Float.floatToRawIntBits(a[i]);
        return b;
    }
}
