package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;

/** Pre-norm residual block: h = x + attention(norm(x)); out = h + feedForward(norm(h)). */
record TransformerBlock(RMSNorm attentionNorm, SlidingWindowAttention attention, RMSNorm ffnNorm,
                        FeedForward feedForward, MixtureOfExperts moe) {

    /**
     * x becomes h (x plus the attention output) and the feed-forward output is returned for the caller to
     * add: the next block adds it in the same pass as its first norm, as this block does with pending
     * (the previous block's feed-forward output; null for a shard's first block).
     */
    Activation apply(Backend b, Activation x, Activation pending, int[] positions, AttentionBatch batch, int layer) {
        Activation normed = b.allocate(x.rows(), x.cols());
        if (pending == null) b.rmsNorm(x, attentionNorm.gain(), attentionNorm.eps(), normed);
        else b.addRmsNorm(x, pending, attentionNorm.gain(), attentionNorm.eps(), normed);
        b.release(pending);
        Activation attended = attention.apply(b, normed, positions, batch, layer);
        b.release(normed);
        Activation h = b.allocate(x.rows(), x.cols());
        b.addRmsNorm(x, attended, ffnNorm.gain(), ffnNorm.eps(), h);
        b.release(attended);
        Activation ffn = moe != null ? moe.apply(b, h) : feedForward.apply(b, h);
        b.release(h);
        return ffn;
    }
}
