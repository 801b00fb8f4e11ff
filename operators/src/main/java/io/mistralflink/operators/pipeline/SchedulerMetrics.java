package io.mistralflink.operators.pipeline;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

/** The scheduler's metrics: throughput, occupancy and latency, as Flink metric groups report them. */
final class SchedulerMetrics {
    private final Counter tokens, generated, refused, admitted, completed;
    private final Meter tokensPerSecond, generatedPerSecond;
    private final Histogram latency;

    SchedulerMetrics(MetricGroup parent, Lane[] lanes, int perLane, java.util.Collection<?> waiting) {
        MetricGroup g = parent.addGroup("inference");
        tokens = g.counter("stepTokens");
        generated = g.counter("generatedTokens");
        refused = g.counter("deadLetters");
        admitted = g.counter("admittedRequests");
        completed = g.counter("completedRequests");
        tokensPerSecond = g.meter("stepTokensPerSecond", new MeterView(tokens));
        generatedPerSecond = g.meter("generatedTokensPerSecond", new MeterView(generated));
        latency = g.histogram("requestLatencyMs", new DescriptiveStatisticsHistogram(1000));
        g.gauge("activeSequences", () -> {
            int n = 0;
            for (Lane l : lanes) n += l.members.size();
            return n;
        });
        g.gauge("laneOccupancy", () -> {
            int n = 0;
            for (Lane l : lanes) n += l.members.size();
            return n / (double) (lanes.length * perLane);
        });
        g.gauge("waitingRequests", waiting::size);
        g.gauge("lanesInFlight", () -> {
            int n = 0;
            for (Lane l : lanes) if (l.inFlight) n++;
            return n;
        });
    }

    void step(int n) { tokens.inc(n); }
    void generated() { generated.inc(); }
    void refused() { refused.inc(); }
    void admitted() { admitted.inc(); }
    void completed(long latencyMs) { completed.inc(); latency.update(latencyMs); }
}
