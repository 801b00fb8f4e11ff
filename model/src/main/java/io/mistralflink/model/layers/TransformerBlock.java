package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;

/** Pre-norm residual block: h = x + attention(norm(x)); out = h + feedForward(norm(h)). */
record TransformerBlock(RMSNorm attentionNorm, SlidingWindowAttention attention, RMSNorm ffnNorm,
                        FeedForward feedForward, MixtureOfExperts moe) {

    void apply(Backend b, Activation x, int[] positions, AttentionBatch batch, int layer) {
        b.add(x, attention.apply(b, attentionNorm.apply(b, x), positions, batch, layer));
        Activation h = ffnNorm.apply(b, x);
        b.add(x, moe != null ? moe.apply(b, h) : feedForward.apply(b, h));
    }
}
