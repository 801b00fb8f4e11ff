package io.mistralflink.job.bench;

import io.mistralflink.operators.pipeline.StepClock;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pipeline's {@link StepClock} counters in a local MiniCluster, as a Flink metric reporter is handed
 * them: {@code bench-pipeline} reads them at the start and at the end of its timed window, in the same
 * JVM, and reports the difference. One local job at a time ({@link #reset} before each).
 */
public final class StepTimes implements MetricReporter {
    /** An operator's subtask, e.g. {@code stage 0 layers [0, 4)} and 1. */
    public record Task(String operator, int subtask) implements Comparable<Task> {
        @Override public int compareTo(Task o) {
            int c = operator.compareTo(o.operator);
            return c != 0 ? c : Integer.compare(subtask, o.subtask);
        }
    }

    private static final Map<Task, Map<StepClock.Phase, Counter>> COUNTERS = new ConcurrentHashMap<>();

    /** {@code conf} with this reporter installed. */
    public static Configuration install(Configuration conf) {
        conf.setString("metrics.reporter.steptimes.factory.class", Factory.class.getName());
        return conf;
    }

    /** Forgets the last job's counters. */
    public static void reset() { COUNTERS.clear(); }

    /** Every subtask's counters now, by phase. */
    public static Map<Task, Map<StepClock.Phase, Long>> snapshot() {
        Map<Task, Map<StepClock.Phase, Long>> out = new TreeMap<>();
        COUNTERS.forEach((task, counters) -> {
            Map<StepClock.Phase, Long> now = new java.util.EnumMap<>(StepClock.Phase.class);
            counters.forEach((p, c) -> now.put(p, c.getCount()));
            out.put(task, now);
        });
        return out;
    }

    /** {@code end} less {@code start}, subtask by subtask and phase by phase (a subtask absent at the start counts from 0). */
    public static Map<Task, Map<StepClock.Phase, Long>> between(Map<Task, Map<StepClock.Phase, Long>> start, Map<Task, Map<StepClock.Phase, Long>> end) {
        Map<Task, Map<StepClock.Phase, Long>> out = new TreeMap<>();
        end.forEach((task, phases) -> {
            Map<StepClock.Phase, Long> d = new java.util.EnumMap<>(StepClock.Phase.class);
            Map<StepClock.Phase, Long> s = start.getOrDefault(task, Map.of());
            phases.forEach((p, v) -> d.put(p, v - s.getOrDefault(p, 0L)));
            out.put(task, d);
        });
        return out;
    }

    @Override public void open(MetricConfig config) {}

    @Override public void close() {}

    @Override public void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
        String[] scope = group.getScopeComponents();
        if (!(metric instanceof Counter c) || scope.length == 0 || !scope[scope.length - 1].equals(StepClock.GROUP)) return;
        for (StepClock.Phase p : StepClock.Phase.values())
            if (p.metric.equals(name)) {
                Map<String, String> v = group.getAllVariables();
                Task task = new Task(v.get("<operator_name>"), Integer.parseInt(v.get("<subtask_index>")));
                COUNTERS.computeIfAbsent(task, t -> new ConcurrentHashMap<>()).put(p, c);
            }
    }

    /** The job's counters stay readable after it ends: the bench reads them then. */
    @Override public void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {}

    /** Made by Flink from {@code metrics.reporter.steptimes.factory.class}. */
    public static final class Factory implements MetricReporterFactory {
        @Override public MetricReporter createMetricReporter(Properties properties) { return new StepTimes(); }
    }
}
