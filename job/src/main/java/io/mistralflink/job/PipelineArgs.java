package io.mistralflink.job;

import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.nio.file.Path;
import java.util.List;

/** The pipeline options shared by every command that runs the Flink job, and the local environment. */
public final class PipelineArgs {
    public static final List<String> OPTIONS = List.of("model", "stages", "layer-split", "lanes", "sequences-per-lane",
            "max-batch-tokens", "parallelism", "buffer-timeout-ms", "device", "threads");

    private PipelineArgs() {}

    public static PipelineConfig parse(Args a) {
        Path model = Path.of(a.required("model"));
        PipelineConfig c = PipelineConfig.defaults(model.toAbsolutePath().toString())
                .withStages(a.integer("stages", 1))
                .withLanes(a.integer("lanes", 2))
                .withSequencesPerLane(a.integer("sequences-per-lane", 16))
                .withMaxBatchTokens(a.integer("max-batch-tokens", io.mistralflink.model.compute.Backends.stepTokens(a.get("device", "cpu"))))
                .withParallelism(a.integer("parallelism", 1))
                .withBufferTimeout(a.integer("buffer-timeout-ms", 0))
                .withThreadsPerStage(a.integer("threads", 0));
        if (a.has("layer-split")) c = c.withLayerSplit(a.integers("layer-split", null));
        c = c.withDevice(a.get("device", "cpu"));
        try {
            c.validate(io.mistralflink.model.ModelConfig.load(model));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        return c;
    }

    /**
     * A local MiniCluster sized for the pipeline (a slot per stage and one for the scheduler, per
     * replica), flushing each step at once unless a buffer timeout is given.
     */
    public static StreamExecutionEnvironment localEnvironment(PipelineConfig c, Configuration extra) {
        Configuration conf = new Configuration(extra);
        if (!conf.contains(RestartStrategyOptions.RESTART_STRATEGY)) conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        // at least the pipeline's slots; more where the job has wider operators around it (a batch's file readers)
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, Math.max(conf.contains(TaskManagerOptions.NUM_TASK_SLOTS)
                ? conf.get(TaskManagerOptions.NUM_TASK_SLOTS) : 0, io.mistralflink.operators.pipeline.Pipeline.slots(c)));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(c.parallelism(), conf);
        env.setBufferTimeout(c.bufferTimeoutMs());
        return env;
    }
}
