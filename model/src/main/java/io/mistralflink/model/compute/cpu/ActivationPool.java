package io.mistralflink.model.compute.cpu;

import java.util.ArrayDeque;
import java.util.Arrays;
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

    /** An array of n floats, all zero. */
    float[] take(int n) {
        float[] a = null;
        if (n >= MIN_FLOATS) synchronized (this) {
            ArrayDeque<float[]> q = free.get(n);
            if (q != null && (a = q.poll()) != null) {
                held.remove(a);
                heldBytes -= 4L * n;
            }
        }
        if (a == null) return new float[n];
        Arrays.fill(a, 0f);
        return a;
    }

    /** Keeps a released array for the next {@link #take} of its length, while the pool is under its cap. */
    synchronized void give(float[] a) {
        if (a.length < MIN_FLOATS || held.containsKey(a) || heldBytes + 4L * a.length > capBytes) return;
        free.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a);
        held.put(a, Boolean.TRUE);
        heldBytes += 4L * a.length;
    }
}
