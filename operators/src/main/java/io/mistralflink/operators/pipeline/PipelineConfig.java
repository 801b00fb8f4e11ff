package io.mistralflink.operators.pipeline;

import io.mistralflink.model.ModelConfig;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The shape of the pipeline: P stages over contiguous layer ranges, L lanes (micro-batches in flight)
 * per scheduler, R replicas of the whole pipeline, and the limits of one micro-batch.
 *
 * @param layerSplit  P+1 layer boundaries (stage i runs [split[i], split[i+1])), or null for an even split
 * @param threadsPerStage CPU threads of each stage's backend; 0 shares the cores out evenly
 */
public record PipelineConfig(String modelDir, int stages, int[] layerSplit, int lanes, int sequencesPerLane,
                             int maxBatchTokens, int parallelism, long bufferTimeoutMs, String device,
                             int threadsPerStage) implements Serializable {

    public static PipelineConfig defaults(String modelDir) {
        return new PipelineConfig(modelDir, 1, null, 2, 16, 512, 1, 0, "cpu", 0);
    }

    public PipelineConfig withStages(int p) { return new PipelineConfig(modelDir, p, null, lanes, sequencesPerLane, maxBatchTokens, parallelism, bufferTimeoutMs, device, threadsPerStage); }
    public PipelineConfig withLayerSplit(int[] split) { return new PipelineConfig(modelDir, split.length - 1, split, lanes, sequencesPerLane, maxBatchTokens, parallelism, bufferTimeoutMs, device, threadsPerStage); }
    public PipelineConfig withLanes(int l) { return new PipelineConfig(modelDir, stages, layerSplit, l, sequencesPerLane, maxBatchTokens, parallelism, bufferTimeoutMs, device, threadsPerStage); }
    public PipelineConfig withSequencesPerLane(int s) { return new PipelineConfig(modelDir, stages, layerSplit, lanes, s, maxBatchTokens, parallelism, bufferTimeoutMs, device, threadsPerStage); }
    public PipelineConfig withMaxBatchTokens(int t) { return new PipelineConfig(modelDir, stages, layerSplit, lanes, sequencesPerLane, t, parallelism, bufferTimeoutMs, device, threadsPerStage); }
    public PipelineConfig withParallelism(int r) { return new PipelineConfig(modelDir, stages, layerSplit, lanes, sequencesPerLane, maxBatchTokens, r, bufferTimeoutMs, device, threadsPerStage); }
    public PipelineConfig withBufferTimeout(long ms) { return new PipelineConfig(modelDir, stages, layerSplit, lanes, sequencesPerLane, maxBatchTokens, parallelism, ms, device, threadsPerStage); }
    public PipelineConfig withDevice(String d) { return new PipelineConfig(modelDir, stages, layerSplit, lanes, sequencesPerLane, maxBatchTokens, parallelism, bufferTimeoutMs, d, threadsPerStage); }
    public PipelineConfig withThreadsPerStage(int t) { return new PipelineConfig(modelDir, stages, layerSplit, lanes, sequencesPerLane, maxBatchTokens, parallelism, bufferTimeoutMs, device, t); }

    /** Layer boundaries, checked against the model; an even split gives the first stages the extra layers. */
    public int[] boundaries(ModelConfig model) {
        validate(model);
        if (layerSplit != null) return layerSplit.clone();
        int[] b = new int[stages + 1];
        int per = model.layers() / stages, extra = model.layers() % stages;
        for (int i = 0; i < stages; i++) b[i + 1] = b[i] + per + (i < extra ? 1 : 0);
        return b;
    }

    /** Rejects, with a message, every combination that cannot run. */
    public void validate(ModelConfig model) {
        List<String> errors = new ArrayList<>();
        if (stages < 1) errors.add("stages must be >= 1, got " + stages);
        else if (stages > model.layers()) errors.add("stages " + stages + " exceed the model's " + model.layers() + " layers");
        if (layerSplit != null) {
            if (layerSplit.length != stages + 1) errors.add("layer split needs " + (stages + 1) + " boundaries, got " + layerSplit.length);
            else if (layerSplit[0] != 0 || layerSplit[stages] != model.layers())
                errors.add("layer split must start at 0 and end at " + model.layers());
            else for (int i = 0; i < stages; i++)
                if (layerSplit[i + 1] <= layerSplit[i]) errors.add("layer split must be strictly increasing, got " + java.util.Arrays.toString(layerSplit));
        }
        if (lanes < 1) errors.add("lanes must be >= 1, got " + lanes);
        if (sequencesPerLane < 1) errors.add("sequences per lane must be >= 1, got " + sequencesPerLane);
        if (maxBatchTokens < sequencesPerLane)
            errors.add("max batch tokens " + maxBatchTokens + " must cover one decode token per sequence of a lane (" + sequencesPerLane + ")");
        if (parallelism < 1) errors.add("parallelism must be >= 1, got " + parallelism);
        if (bufferTimeoutMs < 0) errors.add("buffer timeout must be >= 0 ms, got " + bufferTimeoutMs);
        if (threadsPerStage < 0) errors.add("threads per stage must be >= 0, got " + threadsPerStage);
        try { io.mistralflink.model.compute.Backends.checkName(device); }
        catch (IllegalArgumentException e) { errors.add(e.getMessage()); }
        if (!errors.isEmpty()) throw new IllegalArgumentException("invalid pipeline: " + String.join("; ", errors));
    }

    public int effectiveThreads() {
        if (threadsPerStage > 0) return threadsPerStage;
        return Math.max(1, Runtime.getRuntime().availableProcessors() / (stages * parallelism));
    }
}
