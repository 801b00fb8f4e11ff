package io.mistralflink.model.compute;

/**
 * The rotary embedding's table: cos and sin of position x theta^(-2i/d) for i < d/2, in float32 as Hugging Face
 * computes them (the angle rounded to float before its cos and sin). The one table of the CPU and CUDA backends,
 * so both rotate by the same numbers.
 */
public final class RotaryTable {
    private final float[] invFreq;

    public RotaryTable(double theta, int headDim) {
        invFreq = new float[headDim / 2];
        for (int i = 0; i < invFreq.length; i++) invFreq[i] = (float) (1.0 / Math.pow(theta, (2.0 * i) / headDim));
    }

    /** Entries a position: half the head size. */
    public int half() { return invFreq.length; }

    /** Positions from .. to-1 into cos and sin, position p's entry i at offset + (p - from) * half() + i. */
    public void fill(int from, int to, float[] cos, float[] sin, int offset) {
        int half = invFreq.length;
        for (int p = from; p < to; p++)
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i];
                cos[offset + (p - from) * half + i] = (float) Math.cos(angle);
                sin[offset + (p - from) * half + i] = (float) Math.sin(angle);
            }
    }
}
