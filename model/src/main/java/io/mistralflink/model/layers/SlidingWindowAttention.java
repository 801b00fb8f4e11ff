package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;

/**
 * Grouped-query self-attention: heads query heads, kvHeads key/value heads shared by groups of
 * queries, rotary position embeddings on queries and keys, each token attending to the last W
 * positions through the rolling cache.
 */
record SlidingWindowAttention(Linear wq, Linear wk, Linear wv, Linear wo, int headDim, double ropeTheta) {

    Activation apply(Backend b, Activation x, int[] positions, AttentionBatch batch, int layer) {
        Activation[] qkv = Linear.apply(b, x, wq, wk, wv);
        Activation q = qkv[0], k = qkv[1], v = qkv[2];
        b.rotary(q, k, headDim, positions, ropeTheta);
        Activation attended = b.allocate(x.rows(), q.cols());
        b.attention(q, k, v, attended, batch, layer);
        b.release(q, k, v);
        Activation out = wo.apply(b, attended);
        b.release(attended);
        return out;
    }
}
