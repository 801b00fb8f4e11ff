package io.mistralflink.operators.feedback;

import java.util.Objects;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.streaming.api.datastream.DataStream;

/** Job-graph helper: places the head and the tail of a feedback edge so that subtask i of each share a JVM. */
public final class FeedbackEdge {
    private FeedbackEdge() {}

    /**
     * Puts {@code head} and {@code tail} in co-location group {@code group}. Call after their
     * parallelism and slot sharing group are set: both must be equal, which this checks.
     */
    public static void colocate(String group, DataStream<?> head, DataStream<?> tail) {
        Transformation<?> h = head.getTransformation();
        Transformation<?> t = tail.getTransformation();
        if (h.getParallelism() != t.getParallelism()) {
            throw new IllegalArgumentException("feedback head " + h.getName() + " has parallelism " + h.getParallelism()
                    + ", tail " + t.getName() + " has " + t.getParallelism());
        }
        if (!Objects.equals(h.getSlotSharingGroup(), t.getSlotSharingGroup())) {
            throw new IllegalArgumentException("feedback head and tail in different slot sharing groups: "
                    + h.getSlotSharingGroup() + " vs " + t.getSlotSharingGroup());
        }
        h.setCoLocationGroupKey(group);
        t.setCoLocationGroupKey(group);
    }
}
