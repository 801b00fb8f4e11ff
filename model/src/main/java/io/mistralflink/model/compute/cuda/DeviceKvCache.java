package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.KvCache;

/**
 * One sequence's rolling caches on the device, bf16: for each layer of the shard, keys [cap][kvDim]
 * then values [cap][kvDim], in one allocation. Position p lives in slot p mod W. Capacity grows with
 * the sequence (doubling, from 16 slots) up to W, so short sequences of a long-window model stay small;
 * while it is below W every position p sits in slot p, so growing is a plain copy. Freed by close().
 */
final class DeviceKvCache implements KvCache {
    final int layers, window, kvDim;
    long base;
    int cap;
    private final CudaBackend owner;
    private boolean closed;

    DeviceKvCache(CudaBackend owner, int layers, int window, int kvDim) {
        this.owner = owner; this.layers = layers; this.window = window; this.kvDim = kvDim;
    }

    /** Makes room for positions below end; returns true when the cache moved. */
    boolean reserve(int end) {
        if (closed) throw new IllegalStateException("KV cache used after close()");
        int needed = Math.min(window, end);
        if (needed <= cap) return false;
        int grown = Math.min(window, Math.max(needed, Math.max(16, cap * 2)));
        long bytes = 2L * layers * grown * kvDim * 2;
        long fresh = Cuda.malloc(bytes);
        if (cap > 0) owner.growCache(base, fresh, cap, grown, this);
        if (base != 0) owner.freeLater(base);
        base = fresh;
        cap = grown;
        return true;
    }

    @Override public long bytes() { return 2L * layers * cap * kvDim * 2; }

    @Override public void close() {
        if (closed) return;
        closed = true;
        if (base != 0) owner.freeLater(base);
        base = 0;
        cap = 0;
    }
}
