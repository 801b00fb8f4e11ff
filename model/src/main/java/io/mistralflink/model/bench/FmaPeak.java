package io.mistralflink.model.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.atomic.AtomicLong;

/**
 * This machine's float32 fused-multiply-add peak, measured: independent FMA chains in registers on
 * each thread (enough of them to hide the latency on two FMA ports), no memory traffic. The ceiling a
 * float32 GEMM is judged against; the best of a few short passes, since the machine may be shared.
 */
public final class FmaPeak {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int CHAINS = 12;

    private FmaPeak() {}

    /** FLOP per second (a multiply-add counts two) on threads threads. */
    public static double measure(int threads) throws InterruptedException {
        long iterations = 20_000_000;
        AtomicLong sink = new AtomicLong();
        // Compiled by C2 before it is timed: one warm-up call could leave the threads in C1's code, where the
        // vectors are objects (a bench once read half the peak). Then the best of eight passes of 0.1 s or so.
        for (long until = System.nanoTime() + 300_000_000L; System.nanoTime() < until; ) chains(100_000);
        double best = 0;
        for (int pass = 0; pass < 8; pass++) {
            Thread[] ts = new Thread[threads];
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) ts[t] = Thread.ofPlatform().start(() -> sink.addAndGet(Float.floatToRawIntBits(chains(iterations))));
            for (Thread t : ts) t.join();
            best = Math.max(best, 2.0 * CHAINS * F.length() * iterations * threads / ((System.nanoTime() - t0) / 1e9));
        }
        return best;
    }

    private static float chains(long n) {
        FloatVector m = FloatVector.broadcast(F, 0.999f), c = FloatVector.broadcast(F, 1e-3f);
        FloatVector a0 = c, a1 = c, a2 = c, a3 = c, a4 = c, a5 = c, a6 = c, a7 = c, a8 = c, a9 = c, a10 = c, a11 = c;
        for (long i = 0; i < n; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
            a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }
}
