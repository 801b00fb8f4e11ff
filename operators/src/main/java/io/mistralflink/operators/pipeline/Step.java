package io.mistralflink.operators.pipeline;

import io.mistralflink.operators.frame.Draw;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One planned step of a lane, typed: what the scheduler sends and every stage reads. {@link StepCodec}
 * turns it into a frame and back.
 *
 * @param origin   the scheduler subtask the step's tokens return to
 * @param kind     a step generates or scores, never both
 * @param releases requests that finished: stages free their caches
 */
record Step(String lane, long step, int origin, Kind kind, List<String> releases, List<Part> parts) {
    enum Kind { GENERATE, SCORE }

    Step {
        releases = List.copyOf(releases);
        parts = List.copyOf(parts);
    }

    /** The rows of the step: every part's tokens. */
    int tokens() {
        int n = 0;
        for (Part p : parts) n += p.tokens.length;
        return n;
    }

    /**
     * A sequence's share of the step: its tokens from position {@code start}. A generating part draws a
     * token after its last row ({@code draw}; null: a prefill chunk short of the prompt's end); a scored
     * part predicts every next token, after its last row {@code target} (-1: the text ends there).
     */
    record Part(String requestId, int start, int[] tokens, Draw draw, int target) {
        Part {
            Objects.requireNonNull(requestId);
            if (tokens.length == 0) throw new IllegalArgumentException("empty part of " + requestId);
            tokens = tokens.clone();
        }

        int last() { return start + tokens.length - 1; }

        @Override public boolean equals(Object o) {
            return o instanceof Part p && requestId.equals(p.requestId) && start == p.start && Arrays.equals(tokens, p.tokens)
                    && Objects.equals(draw, p.draw) && target == p.target;
        }

        @Override public int hashCode() { return Objects.hash(requestId, start, Arrays.hashCode(tokens), draw, target); }
    }
}
