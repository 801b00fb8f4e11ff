package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The bf16 mode's many-row product (oneDNN, through {@link CpuBackend#matmul}) against a dot product
 * in double of the bf16-rounded rows and the weights, on random shapes with ragged edges; and what the
 * mode keeps of batch invariance: a row's result is the same bits in any call of {@value CpuBackend#BF16_ROWS}
 * rows or more. Skipped where oneDNN has no bf16 kernel (the processor lacks AVX512-BF16 and AMX).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OneDnnTest {
    private final CpuBackend cpu = new CpuBackend(2, true);
    private final Arena arena = Arena.ofShared();

    @AfterAll void close() {
        cpu.close();
        arena.close();
    }

    @Test void matchesADotProductOfTheRoundedRowsAndKeepsRowsApart() {
        assumeTrue(OneDnn.unavailable() == null, () -> "oneDNN bf16 unavailable: " + OneDnn.unavailable());
        Random rnd = new Random(16);
        int min = CpuBackend.BF16_ROWS;
        for (int trial = 0; trial < 40; trial++) {
            int rows = min + rnd.nextInt(68 - min);
            int k = 16 + rnd.nextInt(trial % 5 == 0 ? 1400 : 300), n = 1 + rnd.nextInt(trial % 7 == 0 ? 300 : 90);
            Tensor w = randomBf16(n, k, rnd);
            float[] x = new float[rows * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] got = product(x, rows, w);
            // the first rows again, in a call of the fewest rows this path takes, and the rest shifted by one
            float[] few = product(Arrays.copyOf(x, min * k), min, w);
            float[] shifted = product(Arrays.copyOfRange(x, k, rows * k), rows - 1, w);

            float[] wf = w.toFloats();
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < n; j++) {
                    double ref = 0, mag = 0;
                    for (int i = 0; i < k; i++) {
                        double p = (double) wf[j * k + i] * Float.intBitsToFloat(OneDnn.bf16(x[r * k + i]) << 16);
                        ref += p;
                        mag += Math.abs(p);
                    }
                    String at = rows + "x" + k + " by " + n + "x" + k + ", row " + r + ", output " + j;
                    // products of two bf16 are exact in float32; their float32 sum is within (k + 1) units of the magnitudes
                    assertEquals(ref, got[r * n + j], (k + 1) * 0x1p-24 * mag + 1e-30, at);
                    int bits = Float.floatToRawIntBits(got[r * n + j]);
                    if (r < min) assertEquals(bits, Float.floatToRawIntBits(few[r * n + j]), at + ": differs in a call of " + min + " rows");
                    if (r > 0) assertEquals(bits, Float.floatToRawIntBits(shifted[(r - 1) * n + j]), at + ": differs with one batch-mate fewer");
                }
        }
    }

    @Test void roundsToNearestEven() {
        assertEquals((short) 0x3f80, OneDnn.bf16(1f));
        assertEquals((short) 0x3f80, OneDnn.bf16(Float.intBitsToFloat(0x3f808000))); // a tie goes to the even 0x3f80
        assertEquals((short) 0x3f82, OneDnn.bf16(Float.intBitsToFloat(0x3f818000))); // and to the even 0x3f82
        assertEquals((short) 0x3f81, OneDnn.bf16(Float.intBitsToFloat(0x3f808001)));
        assertEquals((short) 0xbf80, OneDnn.bf16(-1f));
    }

    private float[] product(float[] x, int rows, Tensor w) {
        CpuBackend.CpuActivation out = (CpuBackend.CpuActivation) cpu.allocate(rows, w.rows());
        cpu.matmul(cpu.upload(x, rows, w.cols()), cpu.weight(w), out);
        return out.data();
    }

    private Tensor randomBf16(int n, int k, Random rnd) {
        MemorySegment seg = arena.allocate((long) n * k * 2);
        for (long i = 0; i < (long) n * k; i++)
            seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 2,
                    (short) (Float.floatToRawIntBits((float) (rnd.nextGaussian() * 0.1)) >>> 16));
        return new Tensor("w", DType.BF16, new long[]{n, k}, seg);
    }
}
