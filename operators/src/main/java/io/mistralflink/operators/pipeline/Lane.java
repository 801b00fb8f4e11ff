package io.mistralflink.operators.pipeline;

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
}
