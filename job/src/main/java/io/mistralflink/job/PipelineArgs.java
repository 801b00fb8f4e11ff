package io.mistralflink.job;

import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.nio.file.Path;
import java.util.List;

/** The pipeline options shared by every command that runs the Flink job, and the local environment. */
public final class PipelineArgs {
    public static final List<String> OPTIONS = List.of("model", "stages", "layer-split", "lanes", "sequences-per-lane",
            "max-batch-tokens", "parallelism", "buffer-timeout-ms", "device", "threads");

    /** Where servers listen unless told otherwise: only this machine can reach them. */
    public static final String LOOPBACK = "127.0.0.1";

    private PipelineArgs() {}

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

    public static PipelineConfig parse(Args a) {
        Path model = Path.of(a.required("model"));
        PipelineConfig c = PipelineConfig.builder(model.toAbsolutePath().toString())
                .stages(a.integer("stages", 1, 1, 256))
                .lanes(a.integer("lanes", 2, 1, 1024))
                .sequencesPerLane(a.integer("sequences-per-lane", 16, 1, 4096))
                .maxBatchTokens(a.integer("max-batch-tokens", io.mistralflink.model.compute.Backends.stepTokens(a.get("device", "cpu")), 1, 1 << 20))
                .parallelism(a.integer("parallelism", 1, 1, 256))
                .bufferTimeoutMs(a.integer("buffer-timeout-ms", 0, -1, 60_000))
                .threadsPerStage(a.integer("threads", 0, 0, Args.maxThreads())).build();
        if (a.has("layer-split")) c = c.toBuilder().layerSplit(a.integers("layer-split", null)).build();
        c = c.toBuilder().device(a.get("device", "cpu")).build();
        probeDevice(c.device());
        try {
            c.validate(io.mistralflink.model.ModelConfig.load(model));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        return c;
    }

    /**
     * A GPU asked for must answer here, before the job starts (the stages would otherwise fail, and
     * restart, in the job): the same one-line error as {@code generate --device}.
     */
    static void probeDevice(String device) {
        if (device == null || !device.startsWith("cuda")) return;
        String first = device.contains(":") ? "cuda:" + device.substring(device.indexOf(':') + 1).split(",")[0] : device;
        try {
            io.mistralflink.model.compute.Backends.open(first, 1).close();
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new Args.UsageException("--device " + device + ": " + e.getMessage());
        } catch (Exception e) {
            throw new Args.UsageException("--device " + device + ": " + e);
        }
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
