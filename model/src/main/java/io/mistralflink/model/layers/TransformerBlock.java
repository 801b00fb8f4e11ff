package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;

/** Pre-norm residual block: h = x + attention(norm(x)); out = h + feedForward(norm(h)). */
record TransformerBlock(RMSNorm attentionNorm, SlidingWindowAttention attention, RMSNorm ffnNorm,
                        FeedForward feedForward, MixtureOfExperts moe) {

    void apply(Backend b, Activation x, int[] positions, AttentionBatch batch, int layer) {
        Activation normed = attentionNorm.apply(b, x);
        Activation attended = attention.apply(b, normed, positions, batch, layer);
        b.release(normed);
        Activation h = b.allocate(x.rows(), x.cols());
        b.addRmsNorm(x, attended, ffnNorm.gain(), ffnNorm.eps(), h);
        b.release(attended);
        Activation ffn = moe != null ? moe.apply(b, h) : feedForward.apply(b, h);
        b.release(h);
        b.add(x, ffn);
        b.release(ffn);
    }
}
