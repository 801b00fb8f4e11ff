package io.mistralflink.operators.frame;

import io.mistralflink.model.sampling.SamplingParams;

/**
 * How a row's token is drawn: its request's sampling parameters and the step, everything the draw
 * depends on. Only what a draw reads is kept ({@link SamplingParams#forDraw()}): stop rules stay with
 * the scheduler.
 */
public record Draw(SamplingParams params, int step) {
    public Draw {
        params = params.forDraw();
    }
}
