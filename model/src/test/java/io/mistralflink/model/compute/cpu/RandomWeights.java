package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Random matrices in each stored type, and random rows, for the product tests. */
final class RandomWeights {
    private RandomWeights() {}

    /** An n x k matrix of N(0, 0.1^2) values rounded to type (bf16 by truncation), in the arena's memory. */
    static Tensor matrix(Arena arena, DType type, int n, int k, Random rnd) {
        MemorySegment seg = arena.allocate((long) n * k * type.bytes);
        var shorts = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < (long) n * k; i++) {
            float v = (float) (rnd.nextGaussian() * 0.1);
            switch (type) {
                case BF16 -> seg.set(shorts, i * 2, (short) (Float.floatToRawIntBits(v) >>> 16));
                case F16 -> seg.set(shorts, i * 2, Float.floatToFloat16(v));
                case F32 -> seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 4, v);
            }
        }
        return new Tensor("w", type, new long[]{n, k}, seg);
    }

    static float[] gaussian(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }
}
