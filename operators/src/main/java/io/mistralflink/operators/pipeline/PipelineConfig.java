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

    public static final int DEFAULT_STAGES = 1, DEFAULT_LANES = 2, DEFAULT_SEQUENCES_PER_LANE = 16, DEFAULT_PARALLELISM = 1,
            DEFAULT_BUFFER_TIMEOUT_MS = 0, DEFAULT_THREADS_PER_STAGE = 0;
    public static final String DEFAULT_DEVICE = "cpu";

    /** The pipeline over the checkpoint in {@code modelDir}, every other setting at its default until set. */
    public static Builder builder(String modelDir) { return new Builder(modelDir); }

    /** This configuration's settings, to change some of them. */
    public Builder toBuilder() {
        Builder b = new Builder(modelDir).lanes(lanes).sequencesPerLane(sequencesPerLane).maxBatchTokens(maxBatchTokens)
                .parallelism(parallelism).bufferTimeoutMs(bufferTimeoutMs).device(device).threadsPerStage(threadsPerStage);
        return layerSplit != null ? b.layerSplit(layerSplit) : b.stages(stages);
    }

    /**
     * The one place that holds the defaults. The step budget follows the device unless set
     * ({@link io.mistralflink.model.compute.Backends#stepTokens}: a GPU wants far larger steps than a CPU).
     */
    public static final class Builder {
        private final String modelDir;
        private int stages = DEFAULT_STAGES, lanes = DEFAULT_LANES, sequencesPerLane = DEFAULT_SEQUENCES_PER_LANE, parallelism = DEFAULT_PARALLELISM;
        private int[] layerSplit;
        private Integer maxBatchTokens;
        private long bufferTimeoutMs = DEFAULT_BUFFER_TIMEOUT_MS;
        private String device = DEFAULT_DEVICE;
        private int threadsPerStage = DEFAULT_THREADS_PER_STAGE;

        private Builder(String modelDir) { this.modelDir = modelDir; }

        /** P stages over an even split of the layers. */
        public Builder stages(int p) { stages = p; layerSplit = null; return this; }
        /** The stages' P+1 layer boundaries (P follows from them). */
        public Builder layerSplit(int[] split) { layerSplit = split.clone(); stages = split.length - 1; return this; }
        public Builder lanes(int l) { lanes = l; return this; }
        public Builder sequencesPerLane(int s) { sequencesPerLane = s; return this; }
        public Builder maxBatchTokens(int t) { maxBatchTokens = t; return this; }
        public Builder parallelism(int r) { parallelism = r; return this; }
        public Builder bufferTimeoutMs(long ms) { bufferTimeoutMs = ms; return this; }
        public Builder device(String d) { device = d; return this; }
        public Builder threadsPerStage(int t) { threadsPerStage = t; return this; }

        public PipelineConfig build() {
            return new PipelineConfig(modelDir, stages, layerSplit, lanes, sequencesPerLane,
                    maxBatchTokens != null ? maxBatchTokens : io.mistralflink.model.compute.Backends.stepTokens(device),
                    parallelism, bufferTimeoutMs, device, threadsPerStage);
        }
    }

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

    /**
     * The device of stage {@code stage}'s subtask {@code replica} (replica i of the pipeline is subtask i of
     * every operator): slot stage x R + replica ({@link io.mistralflink.model.compute.Backends#forSlot}). With
     * {@code cuda} on G GPUs a replica's stages take GPUs R apart, so replicas spread as whole pipelines:
     * with P x R <= G each replica has GPUs of its own (R = 2, P = 1: one per GPU, data-parallel), with
     * P x R = 2G each replica runs on one GPU (P = 2, R = 2 on two GPUs), and P = 2, R = 1 is a stage per GPU.
     */
    public String deviceOf(int stage, int replica) {
        return io.mistralflink.model.compute.Backends.forSlot(device, stage * parallelism + replica);
    }

    /** {@link #deviceOf(int, int)} on a host with {@code gpus} GPUs. */
    String deviceOf(int stage, int replica, java.util.function.IntSupplier gpus) {
        return io.mistralflink.model.compute.Backends.forSlot(device, stage * parallelism + replica, gpus);
    }

    public int effectiveThreads() {
        if (threadsPerStage > 0) return threadsPerStage;
        return Math.max(1, Runtime.getRuntime().availableProcessors() / (stages * parallelism));
    }
}
