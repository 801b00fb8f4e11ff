package io.mistralflink.model.bench;

import io.mistralflink.model.weights.Checkpoint;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How fast this machine streams a checkpoint's weights from memory: the ceiling of batch-1 decoding,
 * which reads every weight once per token. Meaningful only for weights larger than the caches.
 */
public final class MemoryBandwidth {
    private static final VectorSpecies<Long> S = LongVector.SPECIES_PREFERRED;

    private MemoryBandwidth() {}

    /** Bytes per second, best of three passes over every tensor, split over threads. */
    public static double measure(Checkpoint c, List<String> names, int threads) throws InterruptedException {
        List<MemorySegment> segs = new ArrayList<>();
        long total = 0;
        for (String n : names) {
            MemorySegment m = c.tensor(n).data();
            segs.add(m);
            total += m.byteSize();
        }
        double best = 0;
        AtomicLong sink = new AtomicLong();
        for (int pass = 0; pass < 3; pass++) {
            long t0 = System.nanoTime();
            Thread[] ts = new Thread[threads];
            for (int t = 0; t < threads; t++) {
                int me = t;
                ts[t] = Thread.ofPlatform().start(() -> {
                    LongVector acc = LongVector.zero(S);
                    for (MemorySegment m : segs) {
                        long part = (m.byteSize() / threads) & ~63L, from = me * part, to = me == threads - 1 ? m.byteSize() : from + part;
                        long i = from;
                        for (; i + S.vectorByteSize() <= to; i += S.vectorByteSize())
                            acc = acc.add(LongVector.fromMemorySegment(S, m, i, ByteOrder.LITTLE_ENDIAN));
                    }
                    sink.addAndGet(acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD));
                });
            }
            for (Thread t : ts) t.join();
            best = Math.max(best, total / ((System.nanoTime() - t0) / 1e9));
        }
        return best;
    }
}
