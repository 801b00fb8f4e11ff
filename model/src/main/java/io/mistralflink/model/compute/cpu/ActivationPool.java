package io.mistralflink.model.compute.cpu;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Large activation arrays kept for reuse once released. A 1,024-token 7B prefill allocates arrays of up
 * to 58 MB (1,024 x 14,336 floats) forty times a step; fresh, each costs the JVM a humongous allocation,
 * its zeroing and the first touch of its pages: 1.2 of 5.3 s of such a prefill (bf16 mode) went there.
 * Small arrays (decode) stay with the allocator, which serves them faster than a lookup would.
 */
final class ActivationPool {
    /** Arrays under this many floats are not kept. */
    static final int MIN_FLOATS = 1 << 14;

    private final long capBytes;
    private final Map<Integer, ArrayDeque<float[]>> free = new HashMap<>();
    /** What is in the pool now, by identity: a second release of one array must not hand it out twice. */
    private final Map<float[], Boolean> held = new IdentityHashMap<>();
    private long heldBytes;

    ActivationPool(long capBytes) { this.capBytes = capBytes; }

    /** An array: fresh (all zero), or reused as its last user left it. */
    record Taken(float[] data, boolean reused) {}

    /** An array of n floats: a released one where the pool has one, else a fresh one. */
    Taken take(int n) {
        if (n >= MIN_FLOATS) synchronized (this) {
            ArrayDeque<float[]> q = free.get(n);
            float[] a = q == null ? null : q.poll();
            if (a != null) {
                held.remove(a);
                heldBytes -= 4L * n;
                return new Taken(a, true);
            }
        }
        return new Taken(new float[n], false);
    }

    /** Keeps a released array for the next {@link #take} of its length, while the pool is under its cap. */
    synchronized void give(float[] a) {
        if (a.length < MIN_FLOATS || held.containsKey(a) || heldBytes + 4L * a.length > capBytes) return;
        free.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a);
        held.put(a, Boolean.TRUE);
        heldBytes += 4L * a.length;
    }
}
