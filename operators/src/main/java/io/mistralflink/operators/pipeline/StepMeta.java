package io.mistralflink.operators.pipeline;

import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.operators.frame.MicroBatchFrame;

import java.util.List;

/**
 * What a step frame says besides its rows, in the frame's metadata: the lane and step, the scheduler
 * subtask it returns to, the sequences whose caches stages may free, and how each sampling row draws.
 */
final class StepMeta {
    static final String ORIGIN = "origin", RELEASE = "release", SAMPLING = "sampling.", TARGET = "target.", NLL = "nll.";

    private StepMeta() {}

    static int origin(MicroBatchFrame f) { return Integer.parseInt(f.meta(ORIGIN)); }

    static String lane(MicroBatchFrame f) { return f.meta(MicroBatchFrame.META_LANE); }

    static long step(MicroBatchFrame f) { return Long.parseLong(f.meta(MicroBatchFrame.META_STEP)); }

    /** Request ids are separated by a character that request ids are not allowed to hold. */
    static List<String> releases(MicroBatchFrame f) {
        String r = f.meta(RELEASE);
        return r == null || r.isEmpty() ? List.of() : List.of(r.split("\n"));
    }

    static String joinReleases(List<String> ids) { return String.join("\n", ids); }

    /** The requests a step carries (each once, in row order). */
    static List<String> requestIds(MicroBatchFrame f) {
        java.util.LinkedHashSet<String> ids = new java.util.LinkedHashSet<>();
        for (int r = 0; r < f.rows(); r++) ids.add(f.requestId(r));
        return List.copyOf(ids);
    }

    /** temperature, top-p, top-k, seed, step: everything a draw depends on. */
    static String sampling(SamplingParams p, int step) {
        return p.temperature() + " " + p.topP() + " " + p.topK() + " " + p.seed() + " " + step;
    }

    /** The token after a scored chunk's last row (-1: the sequence ends with the chunk). */
    static int target(MicroBatchFrame f, String requestId) {
        String t = f.meta(TARGET + requestId);
        return t == null ? -1 : Integer.parseInt(t);
    }

    /** A scored chunk's summed negative log-likelihood, written by the last stage (exact as a decimal double). */
    static double nll(MicroBatchFrame f, String requestId) {
        String s = f.meta(NLL + requestId);
        if (s == null) throw new IllegalStateException("scored row of " + requestId + " has no nll");
        return Double.parseDouble(s);
    }

    record Draw(SamplingParams params, int step) {}

    static Draw draw(MicroBatchFrame f, String requestId) {
        String s = f.meta(SAMPLING + requestId);
        if (s == null) throw new IllegalStateException("step frame has no sampling parameters for " + requestId);
        String[] p = s.split(" ");
        return new Draw(new SamplingParams(Float.parseFloat(p[0]), Float.parseFloat(p[1]), Integer.parseInt(p[2]),
                Long.parseLong(p[3]), 1, false, List.of(), new int[0]), Integer.parseInt(p[4]));
    }
}
