package io.mistralflink.model.bench;

import io.mistralflink.model.ModelConfig;

/** Floating-point operations of a forward pass (a multiply-add counts two), for GFLOP/s figures. */
public final class Flops {
    private Flops() {}

    /** One token through every layer's projections (a mixture: its router and k experts). */
    public static double perTokenProjections(ModelConfig m) {
        double ffn = 3.0 * m.dim() * m.hiddenDim() * (m.isMixtureOfExperts() ? m.expertsPerToken() : 1);
        double layer = 2.0 * m.qDim() * m.dim() + 2.0 * m.kvDim() * m.dim() + ffn + (double) m.experts() * m.dim();
        return 2 * m.layers() * layer;
    }

    /**
     * Prefilling b prompts of p tokens: every token's projections, attention to its window (q.k and the
     * weighted sum of values, per head) and the LM head once per prompt (only its last position is read).
     */
    public static double prefill(ModelConfig m, int b, int p) {
        double keys = 0;
        for (int i = 0; i < p; i++) keys += Math.min(i + 1, m.window());
        double attention = 2.0 * 2 * m.layers() * m.heads() * m.headDim() * keys;
        return b * (p * perTokenProjections(m) + attention + 2.0 * m.dim() * m.vocabSize());
    }
}
