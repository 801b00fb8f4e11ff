package io.mistralflink.operators.frame;

import java.util.SplittableRandom;

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
}
