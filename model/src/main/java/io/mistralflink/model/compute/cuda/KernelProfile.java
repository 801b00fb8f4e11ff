package io.mistralflink.model.compute.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Device time by command name ({@link Stream}'s profile: CUDA events around each eager command), largest first, with each
 * name's share of the timed span; what the span holds beyond the commands' sum is the device idle between them (launch gaps,
 * waits for the host) plus the events' own cost.
 */
final class KernelProfile {
    private final Map<String, double[]> byName = new LinkedHashMap<>();   // {count, ms}
    private double span, sum;

    void add(String name, double ms) {
        double[] e = byName.computeIfAbsent(name, n -> new double[2]);
        e[0]++;
        e[1] += ms;
        sum += ms;
    }

    void span(double ms) { span = ms; }

    double sum() { return sum; }

    String report() {
        List<Map.Entry<String, double[]>> es = new ArrayList<>(byName.entrySet());
        es.sort((a, b) -> Double.compare(b.getValue()[1], a.getValue()[1]));
        StringBuilder sb = new StringBuilder(String.format("PROFILE span %.3f ms, commands %.3f ms (%.1f%%), between them %.3f ms%n",
                span, sum, span > 0 ? 100 * sum / span : 0, span - sum));
        for (Map.Entry<String, double[]> e : es)
            sb.append(String.format("PROFILE %9.3f ms %5.1f%% %6d x %8.1f us  %s%n", e.getValue()[1], span > 0 ? 100 * e.getValue()[1] / span : 0,
                    (long) e.getValue()[0], 1e3 * e.getValue()[1] / e.getValue()[0], e.getKey()));
        return sb.toString();
    }
}
