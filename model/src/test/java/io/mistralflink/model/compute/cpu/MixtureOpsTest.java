package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The CPU backend's mixture-of-experts operations: route's grouping and weights, and exactness of the grouped matmul and combine. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MixtureOpsTest {
    private final CpuBackend cpu = new CpuBackend(2);
    private final Arena arena = Arena.ofShared();

    @AfterAll void close() {
        cpu.close();
        arena.close();
    }

    @Test void routeGroupsPairsByExpertAndBreaksTiesToTheLowerExpert() {
        float[] logits = {
                1, 1, 1, 1,      // all tied: experts 0 and 1, half each
                0, 5, 5, 2,      // tie for first: 1 and 2
                3, -1, 3, 3,     // three tied: 0 and 2
                -2, 4, 0, 6,     // 3 first, then 1
        };
        var r = (CpuBackend.CpuRouting) cpu.route(cpu.upload(logits, 4, 4), 2);
        assertEquals(4, r.rows());
        assertEquals(2, r.topK());
        assertEquals(4, r.experts());
        // expert 0: rows 0, 2; expert 1: rows 0, 1, 3; expert 2: rows 1, 2; expert 3: row 3
        assertArrayEquals(new int[]{0, 2, 5, 7, 8}, r.offsets());
        assertArrayEquals(new int[]{0, 2, 0, 1, 3, 1, 2, 3}, r.pairRow());
        // each row's pairs in expert order
        assertArrayEquals(new int[]{0, 2, 3, 5, 1, 6, 4, 7}, r.rowPairs());
        float big = (float) (1 / (1 + Math.exp(-2.0))), small = (float) (Math.exp(-2.0) / (1 + Math.exp(-2.0)));
        assertArrayEquals(new float[]{0.5f, 0.5f, 0.5f, 0.5f, small, 0.5f, 0.5f, big}, r.pairWeight());
    }

    private Tensor bf16(Random r, int rows, int cols) {
        MemorySegment seg = arena.allocate(2L * rows * cols, 64);
        for (long i = 0; i < (long) rows * cols; i++) {
            int bits = Float.floatToRawIntBits((float) (r.nextGaussian() / Math.sqrt(cols)));
            seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, (short) (bits >>> 16));
        }
        return new Tensor("w", DType.BF16, new long[]{rows, cols}, seg);
    }

    private static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** The grouped mixture of the given rows: route, dispatch, SwiGLU through grouped matmuls, combine. */
    private float[] mixture(Backend b, float[] x, float[] logits, int rows, int dim, int experts, Weight[] w1, Weight[] w2, Weight[] w3) {
        int hidden = w1[0].rows(), pairs = rows * 2;
        Backend.Routing rt = b.route(b.upload(logits, rows, experts), 2);
        Activation xs = b.allocate(pairs, dim), gate = b.allocate(pairs, hidden), up = b.allocate(pairs, hidden);
        b.dispatch(b.upload(x, rows, dim), rt, xs);
        b.groupedMatmul(xs, w1, rt, gate);
        b.groupedMatmul(xs, w3, rt, up);
        b.siluMul(gate, up);
        Activation ys = b.allocate(pairs, dim), out = b.allocate(rows, dim);
        b.groupedMatmul(gate, w2, rt, ys);
        b.combine(ys, rt, out);
        return b.download(out);
    }

    /**
     * Against the per-expert formulation it replaces (each expert's FFN over its gathered rows, then a
     * weighted scatter-add in expert order), bit for bit; and each row alone gives the same bits as in
     * the batch.
     */
    @Test void groupedMixtureIsExactAndBatchInvariant() {
        Random r = new Random(7);
        int experts = 4, dim = 64, hidden = 96, rows = 13;
        Weight[] w1 = new Weight[experts], w2 = new Weight[experts], w3 = new Weight[experts];
        for (int e = 0; e < experts; e++) {
            w1[e] = cpu.weight(bf16(r, hidden, dim));
            w2[e] = cpu.weight(bf16(r, dim, hidden));
            w3[e] = cpu.weight(bf16(r, hidden, dim));
        }
        float[] x = randn(r, rows * dim), logits = randn(r, rows * experts);
        float[] got = mixture(cpu, x, logits, rows, dim, experts, w1, w2, w3);

        float[] want = new float[rows * dim];
        for (int e = 0; e < experts; e++) {
            int[] sel = new int[rows];
            float[] wt = new float[rows];
            int n = 0;
            for (int row = 0; row < rows; row++) {
                int[] top = CpuBackend.topK(logits, row * experts, experts, 2);
                double max = logits[row * experts + top[0]], a = 1, b = Math.exp(logits[row * experts + top[1]] - max);
                if (top[0] == e) { sel[n] = row; wt[n++] = (float) (a / (a + b)); }
                if (top[1] == e) { sel[n] = row; wt[n++] = (float) (b / (a + b)); }
            }
            if (n == 0) continue;
            Activation xe = cpu.allocate(n, dim), g = cpu.allocate(n, hidden), u = cpu.allocate(n, hidden), y = cpu.allocate(n, dim);
            cpu.gatherRows(cpu.upload(x, rows, dim), Arrays.copyOf(sel, n), xe);
            cpu.matmul(xe, w1[e], g);
            cpu.matmul(xe, w3[e], u);
            cpu.siluMul(g, u);
            cpu.matmul(g, w2[e], y);
            float[] ys = cpu.download(y);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < dim; j++) want[sel[i] * dim + j] += wt[i] * ys[i * dim + j];
        }
        assertArrayEquals(want, got, "grouped mixture vs per-expert loop");

        for (int row = 0; row < rows; row++) {
            float[] alone = mixture(cpu, Arrays.copyOfRange(x, row * dim, (row + 1) * dim),
                    Arrays.copyOfRange(logits, row * experts, (row + 1) * experts), 1, dim, experts, w1, w2, w3);
            assertArrayEquals(Arrays.copyOfRange(got, row * dim, (row + 1) * dim), alone, "row " + row + " alone");
        }
    }
}
