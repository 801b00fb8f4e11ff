package io.mistralflink.operators.pipeline;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

import java.util.EnumMap;
import java.util.Map;

/**
 * Where an operator's time goes, phase by phase: nanosecond counters in the operator's metric group
 * {@value #GROUP} ({@code engineNanos}, {@code busyNanos}, ...), read like Flink's own
 * {@code busyTimeMsPerSecond}. A stage's busy time against the wall time shows the pipeline's bubble;
 * the scheduler's phases show the host's cost of a step around the engine's.
 */
public final class StepClock {
    public static final String GROUP = "steps";

    /** A phase of a step, and the counter (of nanoseconds, or of steps) it adds to. */
    public enum Phase {
        /** A stage: the whole step, from its frame in to its frame out. */
        BUSY("busyNanos"),
        /** A stage: the frame read into its step, the step's caches found or made. */
        DECODE("decodeNanos"),
        /** A stage: the engine's forward pass (and the last stage's draw or score). */
        ENGINE("engineNanos"),
        /** A stage: its output frame built; the scheduler: the step planned and framed. */
        ENCODE("encodeNanos"),
        /**
         * A stage: its frame handed on, to the step's end (into Flink's output buffers, serialized across tasks;
         * chained, the tail's work too). The next stage may already work meanwhile.
         */
        EMIT("emitNanos"),
        /** From the tail taking the last stage's answer to the scheduler taking its tokens: the answer read, the hop through the scheduler's mailbox. */
        FEEDBACK("feedbackNanos"),
        /** The scheduler: the tokens appended to their sequences, finished ones completed. */
        TOKENS("tokensNanos"),
        /** From a lane's tokens back to its next step leaving (the admission linger and the timer it leaves from). */
        ADMISSION("admissionNanos"),
        /** Steps counted (not nanoseconds). */
        STEPS("steps");

        public final String metric;

        Phase(String metric) { this.metric = metric; }
    }

    private final Map<Phase, Counter> counters = new EnumMap<>(Phase.class);

    /** A clock with counters for {@code phases} in {@code parent}'s group {@value #GROUP}. */
    StepClock(MetricGroup parent, Phase... phases) {
        MetricGroup g = parent.addGroup(GROUP);
        for (Phase p : phases) counters.put(p, g.counter(p.metric, new NanosCounter()));
    }

    static long now() { return System.nanoTime(); }

    /** Adds the time since {@code since} (a {@link #now}) to {@code phase}; returns now, the next phase's start. */
    long lap(Phase phase, long since) {
        long t = System.nanoTime();
        counters.get(phase).inc(t - since);
        return t;
    }

    void step() { counters.get(Phase.STEPS).inc(); }

    /** Written by the operator's thread, read by a reporter's: a volatile field, one writer. */
    private static final class NanosCounter implements Counter {
        private volatile long count;

        @Override public void inc() { count++; }
        @Override public void inc(long n) { count += n; }
        @Override public void dec() { count--; }
        @Override public void dec(long n) { count -= n; }
        @Override public long getCount() { return count; }
    }
}
