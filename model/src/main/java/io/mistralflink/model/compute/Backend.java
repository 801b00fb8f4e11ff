package io.mistralflink.model.compute;

import io.mistralflink.model.weights.Tensor;

/**
 * The operations a transformer forward pass needs, over activations the backend owns. The layers in
 * {@code model.layers} call only these, so the same code runs on the CPU and on a GPU; a new backend
 * (CUDA, TornadoVM) implements this interface and nothing else.
 *
 * <p>Every operation is row-wise: row r of an output depends only on row r of its inputs (attention:
 * on its own sequence's segment). That is what makes a sequence's result independent of its
 * batch-mates.
 */
public interface Backend extends AutoCloseable {

    String name();

    /** The backend's form of a stored weight (the CPU reads the mapped tensor in place; a GPU uploads it). */
    Weight weight(Tensor stored);

    /** A zeroed rows x cols float32 activation. */
    Activation allocate(int rows, int cols);

    Activation upload(float[] host, int rows, int cols);

    float[] download(Activation a);

    /** A rolling key/value cache for one sequence over {@code layers} layers of a shard. */
    KvCache kvCache(int layers, int window, int kvDim);

    /** out[r] = table[ids[r]]. */
    void embed(Weight table, int[] ids, Activation out);

    /** out[r] = x[r] / rms(x[r]) * gain. */
    void rmsNorm(Activation x, Weight gain, float eps, Activation out);

    /** out[r] = W x[r], with W stored [out features, in features]. */
    void matmul(Activation x, Weight w, Activation out);

    /** Rotates each head of x[r] (heads of headDim, halves paired as in Hugging Face) by positions[r]. */
    void rotary(Activation x, int headDim, int[] positions, double theta);

    /** Grouped-query attention over each segment's cache and fresh keys, then the fresh keys enter the cache. */
    void attention(Activation q, Activation k, Activation v, Activation out, AttentionBatch batch, int layer);

    /** gate[r] = silu(gate[r]) * up[r]. */
    void siluMul(Activation gate, Activation up);

    /** acc[r] += x[r]. */
    void add(Activation acc, Activation x);

    /** out[i] = x[rows[i]]. */
    void gatherRows(Activation x, int[] rows, Activation out);

    /** out[rows[i]] += scale[i] * src[i], applied in order of i. */
    void scatterAddRows(Activation src, int[] rows, float[] scale, Activation out);

    @Override default void close() {}
}
