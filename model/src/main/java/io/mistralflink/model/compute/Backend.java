package io.mistralflink.model.compute;

import io.mistralflink.model.sampling.Sampler;
import io.mistralflink.model.sampling.SamplingParams;
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

    /**
     * Tokens a step should carry to keep this backend busy: the default budget of a step (prefill chunks of
     * several sequences and decode tokens together, {@code --max-batch-tokens}). See {@link Backends#stepTokens}.
     */
    default int stepTokens() { return Backends.CPU_STEP_TOKENS; }

    /** The device memory's peak bandwidth in bytes a second where the backend knows it (a GPU's), else 0. */
    default double memoryBandwidth() { return 0; }

    /** The backend's form of a stored weight (the CPU reads the mapped tensor in place; a GPU uploads it). */
    Weight weight(Tensor stored);

    /**
     * Matrices of one width that multiply the same input (attention's q, k, v; SwiGLU's gate and up), stored side by side where a
     * backend can, so that {@link #matmul(Activation, Weight[], Activation[])} over them is one product.
     */
    default Weight[] weights(Tensor... stored) {
        Weight[] w = new Weight[stored.length];
        for (int i = 0; i < w.length; i++) w[i] = weight(stored[i]);
        return w;
    }

    /** A zeroed rows x cols float32 activation (a backend may zero it lazily: on its first read, never if it is first written whole). */
    Activation allocate(int rows, int cols);

    Activation upload(float[] host, int rows, int cols);

    float[] download(Activation a);

    /** A rolling key/value cache for one sequence over {@code layers} layers of a shard. */
    KvCache kvCache(int layers, int window, int kvDim);

    /** out[r] = table[ids[r]]. */
    void embed(Weight table, int[] ids, Activation out);

    /** out[r] = x[r] / rms(x[r]) * gain. */
    void rmsNorm(Activation x, Weight gain, float eps, Activation out);

    /** acc[r] += x[r], then out[r] = rmsNorm(acc[r]): a residual add and the next norm (one pass on a GPU). */
    default void addRmsNorm(Activation acc, Activation x, Weight gain, float eps, Activation out) {
        add(acc, x);
        rmsNorm(acc, gain, eps, out);
    }

    /** out[r] = W x[r], with W stored [out features, in features]. */
    void matmul(Activation x, Weight w, Activation out);

    /** out[i] = w[i] x for each i: projections of one input (attention's q, k, v), one pass over it where a backend can. */
    default void matmul(Activation x, Weight[] w, Activation[] out) {
        for (int i = 0; i < w.length; i++) matmul(x, w[i], out[i]);
    }

    /** out = silu(gate x) * (up x): SwiGLU's two projections and their product, fused where a backend can. */
    default void swiGlu(Activation x, Weight gate, Weight up, Activation out) {
        Activation u = allocate(x.rows(), up.rows());
        matmul(x, gate, out);
        matmul(x, up, u);
        siluMul(out, u);
        release(u);
    }

    /** Rotates each head of q[r] and of k[r] (heads of headDim, halves paired as in Hugging Face) by positions[r]. */
    void rotary(Activation q, Activation k, int headDim, int[] positions, double theta);

    /** Grouped-query attention over each segment's cache and fresh keys, then the fresh keys enter the cache. */
    void attention(Activation q, Activation k, Activation v, Activation out, AttentionBatch batch, int layer);

    /** gate[r] = silu(gate[r]) * up[r]. */
    void siluMul(Activation gate, Activation up);

    /** acc[r] += x[r]. */
    void add(Activation acc, Activation x);

    /** out[i] = x[rows[i]]. */
    void gatherRows(Activation x, int[] rows, Activation out);

    /**
     * A mixture-of-experts router's decision for a batch: each row's {@link #topK} experts and their
     * weights. The rows * topK (row, expert) pairs are numbered grouped by expert, experts ascending,
     * rows ascending within an expert, so each expert's pairs are one contiguous block. Owned by the
     * backend (host arrays on the CPU, device buffers on a GPU, never read back); it lives until the
     * step ends.
     */
    interface Routing {
        int rows();
        int topK();
        int experts();
    }

    /**
     * Routes each row of router logits (rows x experts): its topK largest logits (ties to the lower
     * expert), weighted by a softmax over those k alone.
     */
    Routing route(Activation scores, int topK);

    /** out[p] = x[row of pair p]: the rows as the experts will see them (out has rows * topK rows). */
    void dispatch(Activation x, Routing routing, Activation out);

    /**
     * out[p] = w[expert of p] x[p] for every pair p: each expert's matmul over its block of pairs. Pass
     * the same array on every call (a GPU backend keeps a device copy of its pointers per array).
     */
    void groupedMatmul(Activation x, Weight[] w, Routing routing, Activation out);

    /**
     * out[r] = sum of weight(p) * y[p] over row r's pairs p, added in expert order (as Hugging Face's
     * loop over the experts adds them); out is overwritten.
     */
    void combine(Activation y, Routing routing, Activation out);

    /**
     * The next token of each row of logits: row i drawn with params[i] at step steps[i], or -1 where
     * params[i] is null (a row whose logits pick nothing, such as a prefill chunk that does not reach
     * the prompt's end). The default reads the logits back and samples on the host ({@link Sampler});
     * the CUDA backend samples on the device with the same draws, so that only token ids travel back.
     */
    default int[] sample(Activation logits, SamplingParams[] params, int[] steps) {
        float[] l = download(logits);
        int vocab = logits.cols();
        int[] out = new int[params.length];
        for (int i = 0; i < params.length; i++)
            out[i] = params[i] == null ? -1 : Sampler.sample(l, i * vocab, vocab, params[i], steps[i]);
        return out;
    }

    /**
     * Opens a forward step over this batch. Activations allocated inside a step live until it closes
     * (a GPU backend recycles their memory then, and may replay a recorded graph of a step it has seen
     * before); the batch's caches may be made ready up front. The CPU backend needs none of this.
     */
    default Step step(AttentionBatch batch) { return Step.NONE; }

    /** Says that these activations will not be read again, so a backend may reuse their memory at once. */
    default void release(Activation... done) {}

    /** A forward step's lifetime; see {@link #step}. */
    interface Step extends AutoCloseable {
        Step NONE = () -> {};
        @Override void close();
    }

    @Override default void close() {}
}
