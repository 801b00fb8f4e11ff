package io.mistralflink.model.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A row-major tensor in its stored element type, viewing memory it does not own (usually a mapped
 * checkpoint file). Two-dimensional weights are [rows = out features, cols = in features].
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public long size() { return Arrays.stream(shape).reduce(1, (a, b) -> a * b); }
    public int rows() { return (int) shape[0]; }
    public int cols() { return shape.length == 1 ? 1 : (int) (size() / shape[0]); }

    /** Element i as a float (a slow path for loading and tests; kernels read {@link #data} directly). */
    public float get(long i) {
        return switch (dtype) {
            case BF16 -> Float.intBitsToFloat(data.get(SHORT, i * 2) << 16);
            case F16 -> Float.float16ToFloat(data.get(SHORT, i * 2));
            case F32 -> data.get(FLOAT, i * 4);
        };
    }

    public float[] toFloats() {
        float[] out = new float[Math.toIntExact(size())];
        for (int i = 0; i < out.length; i++) out[i] = get(i);
        return out;
    }

    /** Rows [from, to) of a matrix, same storage. */
    public Tensor rows(int from, int to) {
        long rowBytes = (long) cols() * dtype.bytes;
        long[] s = shape.clone();
        s[0] = to - from;
        return new Tensor(name + "[" + from + ":" + to + "]", dtype, s, data.asSlice(from * rowBytes, (to - from) * rowBytes));
    }

    @Override public String toString() { return name + " " + dtype + Arrays.toString(shape); }
}
