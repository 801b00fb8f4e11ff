package io.mistralflink.operators.pipeline;

import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.generate.StepPlanner;
import io.mistralflink.operators.frame.Draw;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GPipe micro-batch: the sequences that travel the pipeline together. At most one step of a lane
 * is in flight; its next step leaves when the sampled tokens of the last one are back.
 */
final class Lane {
    final String key;
    final Map<String, RequestState> members = new LinkedHashMap<>();
    final List<String> releases = new ArrayList<>();
    boolean inFlight;
    /** Its next step leaves from a timer: at once, or after a moment for more arrivals (Scheduler.sendStepAfter). */
    boolean lingering;
    /** A request joined since the last step left. */
    boolean admitted;
    long step;
    /** When its last step's tokens were taken in ({@link StepClock#now}), until its next step leaves; 0 otherwise. */
    long readyNanos;
    /** When its last step to leave from a timer was sent on one ({@link System#nanoTime}). */
    long timerNanos;

    Lane(String key) { this.key = key; }

    boolean idle() { return !inFlight && !lingering && members.isEmpty() && releases.isEmpty(); }

    /**
     * The lane's next step, now in flight: each member's next tokens as {@link StepPlanner} plans them
     * under the step's token budget (decodes first, prefill in chunks of the window), the members
     * advanced past them, and the releases of the members that finished since the last step.
     */
    Step nextStep(int origin, Step.Kind kind, int maxBatchTokens, int window) {
        List<Sequence> seqs = new ArrayList<>(members.size());
        for (RequestState r : members.values()) seqs.add(r.sequence);
        List<StepPlanner.Entry> plan = StepPlanner.plan(seqs, maxBatchTokens, window);
        List<Step.Part> parts = new ArrayList<>(plan.size());
        for (StepPlanner.Entry e : plan) {
            Sequence s = e.sequence();
            int[] t = e.tokens();
            parts.add(new Step.Part(s.id(), e.start(), t, e.samples() ? new Draw(s.params(), s.step()) : null,
                    s.scoring() ? s.scoreTarget(t.length) : -1));
            s.advance(t.length);
        }
        Step next = new Step(key, ++step, origin, kind, releases, parts);
        releases.clear();
        admitted = false;
        inFlight = true;
        return next;
    }
}
