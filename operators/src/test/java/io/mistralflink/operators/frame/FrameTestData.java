package io.mistralflink.operators.frame;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Frames with deterministic random content for tests. */
final class FrameTestData {
    private FrameTestData() {}

    static MicroBatchFrame frame(int rows, int width, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] values = new float[rows * width];
        for (int i = 0; i < values.length; i++) values[i] = (float) rnd.nextGaussian();
        MicroBatchFrame.Builder b = MicroBatchFrame.builder()
                .meta(MicroBatchFrame.META_LANE, Long.toString(seed % 7))
                .meta(MicroBatchFrame.META_STEP, Long.toString(seed))
                .meta(MicroBatchFrame.META_STAGE, "0")
                .width(width);
        for (int r = 0; r < rows; r++) {
            b.row("req-" + (r % 5) + "-é" + seed, r * 3, rnd.nextInt(32000), r % 4 == 3 ? MicroBatchFrame.FLAG_LOGITS : 0);
        }
        return b.values(values).build();
    }

    /** One way of putting a frame into bytes and back (the IPC format, Flink's serializer). */
    interface Codec<E> {
        E encode(MicroBatchFrame f) throws Exception;
        MicroBatchFrame decode(E encoded) throws Exception;
    }

    /**
     * Times {@code n} round trips of {@code f} after 30 warm-ups, checks the first comes back equal,
     * prints the median and minimum each way and requires the minimum under 50 ms each way (the
     * minimum, not the median: this machine is shared and GC of 8 MiB arrays adds noise).
     */
    static <E> void timeRoundTrips(String what, MicroBatchFrame f, int n, Codec<E> codec) throws Exception {
        long[] enc = new long[n];
        long[] dec = new long[n];
        for (int i = -30; i < n; i++) {
            long t0 = System.nanoTime();
            E encoded = codec.encode(f);
            long t1 = System.nanoTime();
            MicroBatchFrame back = codec.decode(encoded);
            long t2 = System.nanoTime();
            if (i < 0) continue;
            enc[i] = t1 - t0;
            dec[i] = t2 - t1;
            if (i == 0) assertEquals(f, back);
        }
        Arrays.sort(enc);
        Arrays.sort(dec);
        System.out.printf("%s: encode median %.2f ms (min %.2f), decode median %.2f ms (min %.2f)%n",
                what, enc[n / 2] / 1e6, enc[0] / 1e6, dec[n / 2] / 1e6, dec[0] / 1e6);
        assertTrue(enc[0] < 50_000_000L && dec[0] < 50_000_000L, what + ": encode/decode too slow");
    }
}
