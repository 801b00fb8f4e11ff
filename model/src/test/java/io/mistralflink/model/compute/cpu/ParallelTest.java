package io.mistralflink.model.compute.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

/** A kernel launch that fails: its error reaches the caller, and only once no worker still runs a chunk of it. */
class ParallelTest {
    @Test void aFailedChunkIsRethrownOnceEveryChunkIsDone() {
        try (Parallel p = new Parallel(4)) {
            for (int failing : new int[]{0, 56}) {   // the caller's first chunk, and one a worker likely takes
                AtomicInteger finished = new AtomicInteger();
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> p.range(64, 1, (from, to) -> {
                    if (from == failing) throw new IllegalStateException("chunk at " + from);
                    LockSupport.parkNanos(2_000_000);   // the other chunks are still running when this one fails
                    finished.addAndGet(to - from);
                }));
                assertEquals("chunk at " + failing, e.getMessage());
                assertEquals(56, finished.get(), "the 7 other chunks of 8 items were done when range threw");
                LockSupport.parkNanos(20_000_000);
                assertEquals(56, finished.get(), "and none ran after");
            }
            AtomicInteger sum = new AtomicInteger();
            p.range(1000, 1, (from, to) -> { for (int i = from; i < to; i++) sum.addAndGet(i); });
            assertEquals(999 * 1000 / 2, sum.get(), "the workers survive a failed launch");
        }
    }
}
