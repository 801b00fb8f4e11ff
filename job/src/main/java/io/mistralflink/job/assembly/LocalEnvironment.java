package io.mistralflink.job.assembly;

import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** The local MiniCluster a command runs the pipeline on: sized for it, its servers on loopback unless told otherwise. */
public final class LocalEnvironment {
    /** Where servers listen unless told otherwise: only this machine can reach them. */
    public static final String LOOPBACK = "127.0.0.1";

    private LocalEnvironment() {}

    /**
     * The local cluster's servers on {@code address}: REST (which can cancel jobs), the BLOB server,
     * RPC and the TaskManager's data exchange. Flink's defaults listen on every interface.
     */
    public static Configuration bindTo(Configuration conf, String address) {
        conf.set(RestOptions.BIND_ADDRESS, address);
        conf.set(RestOptions.ADDRESS, address);
        conf.set(JobManagerOptions.BIND_HOST, address);
        conf.set(JobManagerOptions.ADDRESS, address);
        conf.set(TaskManagerOptions.BIND_HOST, address);
        conf.set(TaskManagerOptions.HOST, address);
        return conf;
    }

    /**
     * Network buffers sized to about a second of throughput (Flink's buffer debloating). Checkpoints are
     * aligned, and a backlog of requests otherwise fills the full-size buffers in front of the scheduler
     * with thousands of them: a barrier queued behind them waits until they are admitted (2,000 queued
     * prompts on 2 lanes x 4 held read_committed results back 30 s at a time, not the interval). A
     * TaskManager option: it takes effect on the local MiniCluster; a cluster sets it in its own
     * configuration (the test cluster does, `StandaloneCluster.defaults`).
     */
    public static Configuration debloatBuffers(Configuration conf) {
        conf.set(TaskManagerOptions.BUFFER_DEBLOAT_ENABLED, true);
        return conf;
    }

    /**
     * A local MiniCluster sized for the pipeline (a slot per stage and one for the scheduler, per
     * replica), flushing each step at once unless a buffer timeout is given.
     */
    public static StreamExecutionEnvironment localEnvironment(PipelineConfig c, Configuration extra) {
        Configuration conf = new Configuration(extra);
        if (!conf.contains(RestOptions.BIND_ADDRESS)) bindTo(conf, LOOPBACK);
        if (!conf.contains(RestartStrategyOptions.RESTART_STRATEGY)) conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        // at least the pipeline's slots; more where the job has wider operators around it (a batch's file readers)
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, Math.max(conf.contains(TaskManagerOptions.NUM_TASK_SLOTS)
                ? conf.get(TaskManagerOptions.NUM_TASK_SLOTS) : 0, io.mistralflink.operators.pipeline.Pipeline.slots(c)));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(c.parallelism(), conf);
        env.setBufferTimeout(c.bufferTimeoutMs());
        return env;
    }
}
