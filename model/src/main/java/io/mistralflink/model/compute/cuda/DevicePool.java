package io.mistralflink.model.compute.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.bytedeco.cuda.global.cudart.cuMemFree;

/**
 * Device memory for one step's activations: one block, bump-allocated, with released buffers kept on
 * exact-size free lists (a step's layers ask for the same sizes over and over, so a step needs about
 * one layer's working set). Everything is reclaimed when the step ends. The same sequence of requests
 * gets the same addresses, which is what lets a CUDA graph of a step be replayed. A step that outgrows
 * the block gets extra blocks; the next step starts with one block large enough for it.
 */
final class DevicePool implements AutoCloseable {
    private long base, capacity, used, overflowBytes;
    private final List<Long> overflow = new ArrayList<>();
    /** Released buffers by size class ({@link #classIndex}): a stack of addresses each, no boxing (a step allocates hundreds). */
    private long[][] free = new long[0][];
    private int[] freeCount = new int[0];
    private int generation;

    DevicePool(long initialBytes) {
        capacity = initialBytes;
        base = Cuda.malloc(capacity);
    }

    int generation() { return generation; }

    /**
     * Size classes: 256-byte steps up to 64 KiB, then 2^k and 1.5 * 2^k, so buffers of similar sizes
     * (a Mixtral expert's rows vary from step to step and expert to expert) share free lists; at most
     * a third is wasted.
     */
    static long sizeClass(long bytes) {
        bytes = Cuda.align(bytes);
        if (bytes <= 65536) return bytes;
        long p = Long.highestOneBit(bytes);
        if (bytes == p) return p;
        long mid = p + (p >> 1);
        return bytes <= mid ? mid : p << 1;
    }

    /** A dense index of a size class: 256-byte steps to 64 KiB, then two classes per power of two. */
    static int classIndex(long sizeClass) {
        if (sizeClass <= 65536) return (int) (sizeClass >> 8);
        int log = 63 - Long.numberOfLeadingZeros(sizeClass);
        return 256 + 2 * (log - 16) + (sizeClass == 1L << log ? 0 : 1);
    }

    long alloc(long bytes) {
        bytes = sizeClass(bytes);
        int c = classIndex(bytes);
        if (c < freeCount.length && freeCount[c] > 0) return free[c][--freeCount[c]];
        if (used + bytes <= capacity) {
            long p = base + used;
            used += bytes;
            return p;
        }
        long p = Cuda.malloc(bytes);
        overflow.add(p);
        overflowBytes += bytes;
        return p;
    }

    void release(long p, long bytes) {
        int c = classIndex(sizeClass(bytes));
        if (c >= free.length) {
            free = Arrays.copyOf(free, c + 1);
            freeCount = Arrays.copyOf(freeCount, c + 1);
        }
        if (free[c] == null) free[c] = new long[8];
        if (freeCount[c] == free[c].length) free[c] = Arrays.copyOf(free[c], 2 * freeCount[c]);
        free[c][freeCount[c]++] = p;
    }

    /**
     * Reclaims everything (the stream must be idle). Returns true when the block moved (it grew), so
     * addresses baked into graphs are stale.
     */
    boolean reset() {
        Arrays.fill(freeCount, 0);
        generation++;
        boolean moved = false;
        if (!overflow.isEmpty()) {
            for (long p : overflow) cuMemFree(p);
            overflow.clear();
            cuMemFree(base);
            long want = Cuda.align(Math.max(capacity * 2, used + overflowBytes + (overflowBytes >> 1)));
            try {
                base = Cuda.malloc(want);
                capacity = want;
            } catch (Cuda.CudaException e) {
                // Not that much free memory (a large model): keep the old size and overflow as needed.
                base = Cuda.malloc(capacity);
            }
            moved = true;
        }
        overflowBytes = 0;
        used = 0;
        return moved;
    }

    long capacity() { return capacity; }

    @Override public void close() {
        for (long p : overflow) cuMemFree(p);
        overflow.clear();
        if (base != 0) cuMemFree(base);
        base = 0;
    }
}
