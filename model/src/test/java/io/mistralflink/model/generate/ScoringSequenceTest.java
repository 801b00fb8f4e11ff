package io.mistralflink.model.generate;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** A scoring sequence's life: chunks of its text, the token after each, finishing once every position is scored. */
class ScoringSequenceTest {
    @Test void feedsItsTextAndFinishesWhenEveryPositionIsScored() {
        int[] text = {1, 10, 11, 12, 13, 14, 2};
        Sequence s = Sequence.scoring("doc", text, 16);
        assertTrue(s.scoring());
        int scored = 0;
        while (!s.finished()) {   // the text's last token, which has no next, need not be fed
            int[] chunk = s.nextTokens(3, 64);
            assertFalse(s.samplesAfter(chunk.length), "a scoring sequence never samples");
            int target = s.scoreTarget(chunk.length), n = chunk.length - (target < 0 ? 1 : 0);
            assertEquals(s.fed() + chunk.length < text.length ? text[s.fed() + chunk.length] : -1, target);
            s.advance(chunk.length);
            s.addScores(0.5 * n, n);
            scored += n;
        }
        assertEquals(text.length - 1, scored);
        assertTrue(s.finished());
        assertEquals(FinishReason.SCORED, s.finishReason());
        assertEquals(0.5 * (text.length - 1), s.nllSum());
        assertThrows(IllegalStateException.class, () -> s.addScores(1, 1), "no scores after the last position");
    }

    /** After a restore the text is fed and scored again from position 0: what was scored before is not counted twice. */
    @Test void aRewindScoresAgainFromTheStart() {
        int[] text = {1, 10, 11, 12, 2};
        Sequence s = Sequence.scoring("doc", text, 16);
        s.advance(s.nextTokens(2, 64).length);
        s.addScores(1.0, 2);
        s.rewind();
        assertEquals(0, s.fed());
        assertEquals(0, s.scored());
        s.advance(s.nextTokens(8, 64).length);
        s.addScores(4.0, 4);
        assertTrue(s.finished());
        assertEquals(4.0, s.nllSum());
    }

    @Test void refusesTextsItCannotScore() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Sequence.scoring("one", new int[]{1}, 16))
                .getMessage().contains("nothing to score"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Sequence.scoring("long", new int[17], 16))
                .getMessage().contains("exceed the model's context of 16"));
        Sequence full = Sequence.scoring("full", new int[16], 16);   // a scored text may fill the context
        assertEquals(16, full.promptLength());
        Sequence gen = new Sequence("g", new int[]{1, 2}, io.mistralflink.model.sampling.SamplingParams.greedy(1), 2, 16);
        assertThrows(IllegalStateException.class, () -> gen.addScores(1, 1), "a generating sequence takes no scores");
    }
}
