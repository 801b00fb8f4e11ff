package io.mistralflink.job.cli;

import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.compute.Backends;
import io.mistralflink.operators.pipeline.PipelineConfig;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The pipeline's shape, shared by every command that runs the Flink job (batch, eval, run, kafka-bench).
 * The defaults are {@link PipelineConfig}'s own.
 */
public final class PipelineOptions {
    @Spec(Spec.Target.MIXEE) CommandSpec mixee;

    @Mixin ModelOption model;

    @Option(names = "--stages", paramLabel = "P", defaultValue = "" + PipelineConfig.DEFAULT_STAGES,
            description = "pipeline stages over an even split of the layers")
    int stages;

    @Option(names = "--layer-split", paramLabel = "B", split = ",", description = "the stages' P+1 layer boundaries, e.g. 0,3,6 (instead of --stages)")
    int[] layerSplit;

    @Option(names = "--lanes", paramLabel = "L", defaultValue = "" + PipelineConfig.DEFAULT_LANES, description = "micro-batches in flight per replica")
    int lanes;

    @Option(names = "--sequences-per-lane", paramLabel = "S", defaultValue = "" + PipelineConfig.DEFAULT_SEQUENCES_PER_LANE,
            description = "sequences in one micro-batch")
    int sequencesPerLane;

    @Option(names = "--max-batch-tokens", paramLabel = "T",
            description = "tokens of one step (default: the device's step budget, " + Backends.CPU_STEP_TOKENS + " on a CPU, " + Backends.GPU_STEP_TOKENS + " on a GPU)")
    Integer maxBatchTokens;

    @Option(names = "--parallelism", paramLabel = "R", defaultValue = "" + PipelineConfig.DEFAULT_PARALLELISM, description = "replicas of the whole pipeline")
    int parallelism;

    @Option(names = "--buffer-timeout-ms", paramLabel = "MS", defaultValue = "" + PipelineConfig.DEFAULT_BUFFER_TIMEOUT_MS,
            description = "Flink's network buffer timeout (0: flush every step at once)")
    int bufferTimeoutMs;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = PipelineConfig.DEFAULT_DEVICE,
            description = "cpu, cpu:bf16, cuda, cuda:N, cuda:N,M,... (the stages spread over the GPUs) or auto")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "" + PipelineConfig.DEFAULT_THREADS_PER_STAGE,
            description = "CPU threads of each stage (0: the cores shared out evenly)")
    int threads;

    /** The pipeline asked for, checked against the model; a GPU asked for must answer here, before the job starts. */
    PipelineConfig config() {
        PipelineConfig.Builder b = PipelineConfig.builder(model.dir.toAbsolutePath().toString())
                .stages(CliCommand.between(mixee, "--stages", stages, 1, 256))
                .lanes(CliCommand.between(mixee, "--lanes", lanes, 1, 1024))
                .sequencesPerLane(CliCommand.between(mixee, "--sequences-per-lane", sequencesPerLane, 1, 4096))
                .parallelism(CliCommand.between(mixee, "--parallelism", parallelism, 1, 256))
                .bufferTimeoutMs(CliCommand.between(mixee, "--buffer-timeout-ms", bufferTimeoutMs, -1, 60_000))
                .threadsPerStage(CliCommand.between(mixee, "--threads", threads, 0, CliCommand.maxThreads()))
                .device(device);
        if (maxBatchTokens != null) b.maxBatchTokens(CliCommand.between(mixee, "--max-batch-tokens", maxBatchTokens, 1, 1 << 20));
        if (layerSplit != null) b.layerSplit(layerSplit);
        PipelineConfig c = b.build();
        probeDevice(c.device());
        try {
            c.validate(ModelConfig.load(model.dir));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
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
            Backends.open(first, 1).close();
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new UsageException("--device " + device + ": " + e.getMessage());
        } catch (Exception e) {
            throw new UsageException("--device " + device + ": " + e);
        }
    }
}
