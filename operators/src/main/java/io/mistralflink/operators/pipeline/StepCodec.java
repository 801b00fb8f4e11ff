package io.mistralflink.operators.pipeline;

import io.mistralflink.operators.frame.MicroBatchFrame;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The one mapping between a {@link Step} and its frame, and between the last stage's answer and the
 * {@link TokenBatch} the scheduler takes back. A step's rows are its parts' tokens in order; a part's
 * draw or target sits on its last row (typed columns); lane, step, origin, kind and releases are the
 * header, in the schema metadata.
 */
final class StepCodec {
    static final String ORIGIN = "origin", KIND = "kind", RELEASES = "releases";

    private StepCodec() {}

    static MicroBatchFrame encode(Step s) {
        MicroBatchFrame.Builder b = header(s).width(0);
        // Request ids cannot hold a newline (the validators refuse control characters).
        if (!s.releases().isEmpty()) b.meta(RELEASES, String.join("\n", s.releases()));
        for (Step.Part p : s.parts()) {
            int[] t = p.tokens();
            for (int i = 0; i < t.length; i++) {
                boolean logits = s.kind() == Step.Kind.SCORE || p.draw() != null && i == t.length - 1;
                b.row(p.requestId(), p.start() + i, t[i], logits ? MicroBatchFrame.FLAG_LOGITS : 0);
            }
            if (p.draw() != null) b.draw(p.draw());
            if (p.target() >= 0) b.target(p.target());
        }
        return b.build();
    }

    static Step decode(MicroBatchFrame f) {
        List<Step.Part> parts = new ArrayList<>();
        int[] tokens = f.tokens();
        for (int r = 0; r < f.rows(); ) {
            String id = f.requestId(r);
            int start = r;
            while (r < f.rows() && f.requestId(r).equals(id)) r++;
            parts.add(new Step.Part(id, f.position(start), Arrays.copyOfRange(tokens, start, r), f.draw(r - 1), f.target(r - 1)));
        }
        String releases = f.meta(RELEASES);
        return new Step(lane(f), step(f), origin(f), Step.Kind.valueOf(f.meta(KIND)),
                releases == null ? List.of() : List.of(releases.split("\n")), parts);
    }

    /** The last stage's answer to a generating step: a row per drawing part, its token the one drawn (drawn[i] for part i). */
    static MicroBatchFrame drawn(Step s, int[] drawn) {
        MicroBatchFrame.Builder b = header(s).width(0);
        for (int i = 0; i < s.parts().size(); i++) {
            Step.Part p = s.parts().get(i);
            if (p.draw() != null) b.row(p.requestId(), p.last(), drawn[i], 0);
        }
        return b.build();
    }

    /** The last stage's answer to a scoring step: a row per part, its token the positions scored, with their summed loss. */
    static MicroBatchFrame scored(Step s, double[] nll) {
        MicroBatchFrame.Builder b = header(s).width(0);
        for (int i = 0; i < s.parts().size(); i++) {
            Step.Part p = s.parts().get(i);
            b.row(p.requestId(), p.last(), p.tokens().length - (p.target() < 0 ? 1 : 0), 0).nll(nll[i]);
        }
        return b.build();
    }

    /** What the scheduler takes back from an answer frame, which the tail took at {@code takenNanos}. */
    static TokenBatch answer(MicroBatchFrame f, long takenNanos) {
        String[] ids = f.requestIds().toArray(String[]::new);
        double[] nll = new double[f.rows()];
        for (int r = 0; r < nll.length; r++) nll[r] = f.nll(r);
        return new TokenBatch(lane(f), step(f), ids, f.tokens(), nll, takenNanos);
    }

    static String lane(MicroBatchFrame f) { return f.meta(MicroBatchFrame.META_LANE); }

    static long step(MicroBatchFrame f) { return Long.parseLong(f.meta(MicroBatchFrame.META_STEP)); }

    static int origin(MicroBatchFrame f) { return Integer.parseInt(f.meta(ORIGIN)); }

    private static MicroBatchFrame.Builder header(Step s) {
        return MicroBatchFrame.builder()
                .meta(MicroBatchFrame.META_LANE, s.lane())
                .meta(MicroBatchFrame.META_STEP, Long.toString(s.step()))
                .meta(ORIGIN, Integer.toString(s.origin()))
                .meta(KIND, s.kind().name());
    }
}
