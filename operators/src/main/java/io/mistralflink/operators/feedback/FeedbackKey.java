package io.mistralflink.operators.feedback;

import java.util.Objects;
import org.apache.flink.api.common.functions.RuntimeContext;

/**
 * Names one feedback channel: the edge (a job may have more than one loop), the job, the subtask
 * index shared by the colocated head and tail, and the attempt number, so that a restarted attempt
 * never reads what a failed one left behind.
 */
public record FeedbackKey(String edge, String jobId, int subtaskIndex, int attemptNumber) {
    public FeedbackKey {
        Objects.requireNonNull(edge, "edge");
        Objects.requireNonNull(jobId, "jobId");
        if (subtaskIndex < 0 || attemptNumber < 0) throw new IllegalArgumentException("negative index or attempt");
    }

    /** The key of the calling subtask (head or tail) on {@code edge}. */
    public static FeedbackKey of(String edge, RuntimeContext ctx) {
        return new FeedbackKey(edge, ctx.getJobInfo().getJobId().toHexString(),
                ctx.getTaskInfo().getIndexOfThisSubtask(), ctx.getTaskInfo().getAttemptNumber());
    }
}
