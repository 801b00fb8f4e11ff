package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.compute.KvCache;

/**
 * The rolling buffer cache of the Mistral paper: W slots per layer, position p in slot p mod W, so a
 * sequence of any length keeps at most W keys and values. Slots are allocated as the sequence grows
 * (up to W), so a model whose "window" is its whole context does not reserve it up front.
 */
final class RollingKvCache implements KvCache {
    final int window, kvDim;
    final float[][] keys, values;
    private int capacity;

    RollingKvCache(int layers, int window, int kvDim) {
        this.window = window;
        this.kvDim = kvDim;
        this.keys = new float[layers][0];
        this.values = new float[layers][0];
    }

    int slot(int position) { return position % window; }

    /** Makes room for positions below end. While capacity < W every position p sits in slot p. */
    void reserve(int end) {
        int needed = Math.min(window, end);
        if (needed <= capacity) return;
        int grown = Math.min(window, Math.max(needed, Math.max(16, capacity * 2)));
        for (int l = 0; l < keys.length; l++) {
            keys[l] = java.util.Arrays.copyOf(keys[l], grown * kvDim);
            values[l] = java.util.Arrays.copyOf(values[l], grown * kvDim);
        }
        capacity = grown;
    }

    @Override public long bytes() { return 2L * keys.length * capacity * kvDim * Float.BYTES; }
}
