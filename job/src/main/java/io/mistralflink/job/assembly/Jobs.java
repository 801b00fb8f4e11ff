package io.mistralflink.job.assembly;

import org.apache.flink.core.execution.JobClient;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** What the commands do with a running job. */
public final class Jobs {
    private Jobs() {}

    /** Cancels the job and waits until it has stopped (so that the broker outlives its clients). */
    public static void cancelAndWait(JobClient job) throws Exception {
        job.cancel().get(60, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        try {
            while (!job.getJobStatus().get(10, TimeUnit.SECONDS).isGloballyTerminalState() && System.nanoTime() < deadline) Thread.sleep(50);
        } catch (ExecutionException | IllegalStateException gone) {
            // the job's MiniCluster has shut down: it has stopped
        }
    }

    /** The innermost cause, for a one-line error (a job's failure arrives wrapped several times). */
    public static String rootMessage(Throwable e) {
        while (e.getCause() != null && e.getCause() != e) e = e.getCause();
        return e.toString();
    }
}
