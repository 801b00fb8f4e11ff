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
 * The bf16 mode's product (oneDNN on weights packed once, through {@link CpuBackend#matmul}) against a dot
 * product in double of the bf16-rounded rows and the weights, on random shapes with ragged edges; and its
 * batch invariance: a row's result is the same bits alone, in a call of {@value OneDnn#MIN_ROWS} rows (the
 * padded calls' size) and among 1 to 67, whatever its batch-mates. Skipped where oneDNN has no bf16 kernel
 * (the processor lacks AVX512-BF16 and AMX).
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
        int min = OneDnn.MIN_ROWS;
        for (int trial = 0; trial < 16; trial++) {
            int rows = 1 + rnd.nextInt(67);
            // weights at least MIN_K wide and of MIN_ELEMENTS elements (smaller ones stay on the float32 path), ragged in k and outputs
            int k = OneDnn.MIN_K + rnd.nextInt(1500), n = (int) ((OneDnn.MIN_ELEMENTS + k - 1) / k) + rnd.nextInt(trial % 4 == 0 ? 3000 : 90);
            Tensor w = randomBf16(n, k, rnd);
            float[] x = new float[rows * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] got = product(x, rows, w);
            // the first row alone, the first rows in a call of as many rows as a padded call has, the rest shifted by one
            float[] alone = product(Arrays.copyOf(x, k), 1, w);
            float[] few = product(Arrays.copyOf(x, min * k), min, w);
            float[] shifted = rows > 1 ? product(Arrays.copyOfRange(x, k, rows * k), rows - 1, w) : null;

            float[] wf = w.toFloats();
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < n; j++) {
                    int bits = Float.floatToRawIntBits(got[r * n + j]);
                    String at = rows + "x" + k + " by " + n + "x" + k + ", row " + r + ", output " + j;
                    if (r == 0) assertEquals(bits, Float.floatToRawIntBits(alone[j]), at + ": differs alone");
                    if (r < min) assertEquals(bits, Float.floatToRawIntBits(few[r * n + j]), at + ": differs in a call of " + min + " rows");
                    if (r > 0) assertEquals(bits, Float.floatToRawIntBits(shifted[(r - 1) * n + j]), at + ": differs with one batch-mate fewer");
                    if ((j * 7919 + r) % 31 != 0 && j != n - 1) continue; // the value against double: a sample of outputs, the ragged last
                    double ref = 0, mag = 0;
                    for (int i = 0; i < k; i++) {
                        double p = (double) wf[j * k + i] * Float.intBitsToFloat(OneDnn.bf16(x[r * k + i]) << 16);
                        ref += p;
                        mag += Math.abs(p);
                    }
                    // products of two bf16 are exact in float32; their float32 sum is within (k + 1) units of the magnitudes
                    assertEquals(ref, got[r * n + j], (k + 1) * 0x1p-24 * mag + 1e-30, at);
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

    @Test void roundsAVectorAtATimeAsOneAtATime() {
        Random rnd = new Random(3);
        float[] x = new float[1000];
        for (int i = 0; i < x.length; i++)
            x[i] = i % 3 == 0 ? Float.intBitsToFloat((rnd.nextInt() & 0xffff0000) | 0x8000) // ties
                    : i % 3 == 1 ? (float) rnd.nextGaussian() : Float.intBitsToFloat(rnd.nextInt() & 0x7f7fffff | (rnd.nextBoolean() ? 0x80000000 : 0));
        for (int from : new int[]{0, 3}) {
            int n = x.length - from - 5; // a tail after the last whole vector
            MemorySegment out = arena.allocate(2L * n);
            OneDnn.toBf16(x, from, n, out);
            for (int i = 0; i < n; i++)
                assertEquals(OneDnn.bf16(x[from + i]), out.get(ValueLayout.JAVA_SHORT, 2L * i), "element " + (from + i) + " of " + x[from + i]);
        }
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
