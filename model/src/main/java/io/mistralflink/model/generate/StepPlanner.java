package io.mistralflink.model.generate;

import java.util.ArrayList;
import java.util.List;

/**
 * Composes one micro-batch step from a set of sequences (continuous batching): a decode token from
 * every decoding sequence first, so their latency stays flat while prompts stream in, then prefill
 * chunks of at most W tokens, until the token budget is spent. Shared by the engine alone and the
 * pipeline's scheduler, so both batch alike.
 */
public final class StepPlanner {
    /** A sequence's share of the step: tokens from position start; samples when its logits pick a token. */
    public record Entry(Sequence sequence, int start, int[] tokens, boolean samples) {}

    private StepPlanner() {}

    public static List<Entry> plan(Iterable<Sequence> sequences, int budget, int window) {
        List<Entry> out = new ArrayList<>();
        for (int pass = 0; pass < 2 && budget > 0; pass++) {
            for (Sequence s : sequences) {
                if (s.finished() || s.prefilling() != (pass == 1) || budget == 0) continue;
                int[] tokens = s.nextTokens(budget, window);
                if (tokens.length == 0) continue; // waiting for its sampled token
                out.add(new Entry(s, s.fed(), tokens, s.samplesAfter(tokens.length)));
                budget -= tokens.length;
            }
        }
        return out;
    }
}
