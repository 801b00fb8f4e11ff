package io.mistralflink.model.layers;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.ModelException;
import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.sampling.Sampler;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.weights.Checkpoint;

import java.util.ArrayList;
import java.util.List;

/**
 * A contiguous range of layers [from, to), plus the token embedding if it starts the model and the
 * final norm and LM head if it ends it. The whole model is the shard [0, layers): there is one code
 * path for a pipeline stage and for the model alone.
 */
public final class Shard implements AutoCloseable {
    private final ModelConfig config;
    private final Backend backend;
    private final int from, to;
    private final TransformerBlock[] blocks;
    private final Linear embedding, head;
    private final RMSNorm norm;

    private Shard(ModelConfig config, Backend backend, int from, int to, TransformerBlock[] blocks,
                  Linear embedding, RMSNorm norm, Linear head) {
        this.config = config; this.backend = backend; this.from = from; this.to = to;
        this.blocks = blocks; this.embedding = embedding; this.norm = norm; this.head = head;
    }

    public static Shard whole(Checkpoint ckpt, Backend backend) {
        return load(ckpt, 0, ckpt.config().layers(), backend);
    }

    /** Layers [from, to) of the checkpoint; only their weights reach the backend. */
    public static Shard load(Checkpoint ckpt, int from, int to, Backend backend) {
        ModelConfig c = ckpt.config();
        if (from < 0 || to > c.layers() || from >= to)
            throw new ModelException("layer range [" + from + ", " + to + ") is not within the model's " + c.layers() + " layers");
        Weights w = new Weights(ckpt, backend);
        TransformerBlock[] blocks = new TransformerBlock[to - from];
        for (int l = from; l < to; l++) {
            String p = "model.layers." + l + ".";
            Weight[] qkv = backend.weights(ckpt.tensor(p + "self_attn.q_proj.weight", c.qDim(), c.dim()),
                    ckpt.tensor(p + "self_attn.k_proj.weight", c.kvDim(), c.dim()),
                    ckpt.tensor(p + "self_attn.v_proj.weight", c.kvDim(), c.dim()));
            var attention = new SlidingWindowAttention(new Linear(qkv[0]), new Linear(qkv[1]), new Linear(qkv[2]),
                    w.linear(p + "self_attn.o_proj.weight", c.dim(), c.qDim()), c.headDim(), c.ropeTheta());
            FeedForward ffn = null;
            MixtureOfExperts moe = null;
            if (c.isMixtureOfExperts()) {
                String m = p + "block_sparse_moe.";
                Weight[] w1 = new Weight[c.experts()], w2 = new Weight[c.experts()], w3 = new Weight[c.experts()];
                for (int e = 0; e < w1.length; e++) {
                    String x = m + "experts." + e + ".";
                    w1[e] = w.linear(x + "w1.weight", c.hiddenDim(), c.dim()).w();
                    w2[e] = w.linear(x + "w2.weight", c.dim(), c.hiddenDim()).w();
                    w3[e] = w.linear(x + "w3.weight", c.hiddenDim(), c.dim()).w();
                }
                moe = new MixtureOfExperts(w.linear(m + "gate.weight", c.experts(), c.dim()), w1, w2, w3, c.expertsPerToken());
            } else {
                Weight[] gateUp = backend.weights(ckpt.tensor(p + "mlp.gate_proj.weight", c.hiddenDim(), c.dim()),
                        ckpt.tensor(p + "mlp.up_proj.weight", c.hiddenDim(), c.dim()));
                ffn = new FeedForward(new Linear(gateUp[0]), w.linear(p + "mlp.down_proj.weight", c.dim(), c.hiddenDim()), new Linear(gateUp[1]));
            }
            blocks[l - from] = new TransformerBlock(w.norm(p + "input_layernorm.weight", c),
                    attention, w.norm(p + "post_attention_layernorm.weight", c), ffn, moe);
        }
        Linear embedding = from == 0 ? w.linear("model.embed_tokens.weight", c.vocabSize(), c.dim()) : null;
        RMSNorm norm = null;
        Linear head = null;
        if (to == c.layers()) {
            norm = w.norm("model.norm.weight", c);
            head = c.tiedEmbeddings() ? w.linear("model.embed_tokens.weight", c.vocabSize(), c.dim())
                    : w.linear("lm_head.weight", c.vocabSize(), c.dim());
        }
        return new Shard(c, backend, from, to, blocks, embedding, norm, head);
    }

    private record Weights(Checkpoint ckpt, Backend backend) {
        Linear linear(String name, int rows, int cols) { return new Linear(backend.weight(ckpt.tensor(name, rows, cols))); }
        RMSNorm norm(String name, ModelConfig c) { return new RMSNorm(backend.weight(ckpt.tensor(name, c.dim())), c.normEps()); }
    }

    public ModelConfig config() { return config; }
    public Backend backend() { return backend; }
    public int from() { return from; }
    public int to() { return to; }
    public boolean isFirst() { return embedding != null; }
    public boolean isLast() { return head != null; }

    /** An empty rolling cache of one sequence for this shard's layers. */
    public KvCache newCache() { return backend.kvCache(blocks.length, config.window(), config.kvDim()); }

    /** Width of a row of this shard's output: vocabulary logits for the last shard, else hidden state. */
    public int outputWidth() { return isLast() ? config.vocabSize() : config.dim(); }

    /**
     * One micro-batch step. The first shard reads the chunks' tokens; a later one reads {@code hidden},
     * rows in chunk order. The last shard returns logits for each chunk's {@link Chunk#logitRows()} rows,
     * in chunk order, the others the hidden state of every row.
     */
    public float[] forward(List<Chunk> chunks, float[] hidden) {
        AttentionBatch batch = batchOf(chunks);
        try (Backend.Step step = backend.step(batch)) {
            Activation x = layers(chunks, hidden, batch);
            if (!isLast()) return backend.download(x);
            Activation logits = logits(chunks, x);
            return logits == null ? new float[0] : backend.download(logits);
        }
    }

    /**
     * One micro-batch step of the last shard that picks the next token on the backend, so that only
     * token ids, not logits, need to leave a GPU: a chunk with {@link Chunk.Logits#LAST} gets its token
     * drawn with params[i] at step steps[i] (params[i] must not be null), a chunk with
     * {@link Chunk.Logits#NONE} gets -1; {@link Chunk.Logits#ALL} is for scoring, not here.
     */
    public int[] sample(List<Chunk> chunks, float[] hidden, SamplingParams[] params, int[] steps) {
        if (!isLast()) throw new IllegalStateException("shard [" + from + ", " + to + ") has no LM head to sample from");
        if (params.length != chunks.size() || steps.length != chunks.size())
            throw new IllegalArgumentException(chunks.size() + " chunks but " + params.length + " params and " + steps.length + " steps");
        int rows = 0;
        for (int i = 0; i < chunks.size(); i++) {
            Chunk.Logits l = chunks.get(i).logits();
            if (l == Chunk.Logits.ALL) throw new IllegalArgumentException("sampling takes at most one logit row per chunk");
            if ((l == Chunk.Logits.LAST) != (params[i] != null))
                throw new IllegalArgumentException("chunk " + i + " asks for logits " + l + " but has " + (params[i] == null ? "no" : "") + " sampling params");
            if (l == Chunk.Logits.LAST) rows++;
        }
        SamplingParams[] rowParams = new SamplingParams[rows];
        int[] rowSteps = new int[rows];
        for (int i = 0, r = 0; i < chunks.size(); i++)
            if (params[i] != null) { rowParams[r] = params[i]; rowSteps[r++] = steps[i]; }
        AttentionBatch batch = batchOf(chunks);
        int[] drawn;
        try (Backend.Step step = backend.step(batch)) {
            Activation x = layers(chunks, hidden, batch);
            Activation logits = logits(chunks, x);
            drawn = logits == null ? new int[0] : backend.sample(logits, rowParams, rowSteps);
        }
        int[] out = new int[chunks.size()];
        for (int i = 0, r = 0; i < chunks.size(); i++) out[i] = params[i] != null ? drawn[r++] : -1;
        return out;
    }

    /**
     * One micro-batch step of the last shard that scores instead of sampling (teacher forcing): for each
     * chunk with {@link Chunk.Logits#ALL}, the summed negative log-likelihood of the token after each of
     * its positions: its own next token, and after its last position {@code next[i]} (-1: the sequence
     * ends there, nothing to score). Chunks with {@link Chunk.Logits#NONE} give 0.
     */
    public double[] score(List<Chunk> chunks, float[] hidden, int[] next) {
        if (!isLast()) throw new IllegalStateException("shard [" + from + ", " + to + ") has no LM head to score with");
        for (Chunk c : chunks)
            if (c.logits() == Chunk.Logits.LAST) throw new IllegalArgumentException("scoring takes every logit row of a chunk, or none");
        float[] logits = forward(chunks, hidden);
        int vocab = config.vocabSize();
        double[] out = new double[chunks.size()];
        for (int i = 0, row = 0; i < chunks.size(); i++) {
            Chunk c = chunks.get(i);
            if (c.logits() == Chunk.Logits.NONE) continue;
            for (int j = 0; j < c.length(); j++, row++) {
                int target = j + 1 < c.length() ? c.tokens()[j + 1] : next[i];
                if (target >= 0) out[i] += Sampler.nll(logits, row * vocab, vocab, target);
            }
        }
        return out;
    }

    private AttentionBatch batchOf(List<Chunk> chunks) {
        List<AttentionBatch.Segment> segments = new ArrayList<>(chunks.size());
        int r = 0;
        for (Chunk c : chunks) {
            if (c.start() < 0) throw new IllegalArgumentException("negative start position " + c.start());
            segments.add(new AttentionBatch.Segment(c.cache(), r, c.length(), c.start()));
            r += c.length();
        }
        return new AttentionBatch(config.heads(), config.kvHeads(), config.headDim(), config.window(), segments);
    }

    /** The hidden state after this shard's layers. */
    private Activation layers(List<Chunk> chunks, float[] hidden, AttentionBatch batch) {
        int rows = 0;
        for (Chunk c : chunks) rows += c.length();
        int[] tokens = new int[rows], positions = new int[rows];
        int r = 0;
        for (Chunk c : chunks) {
            for (int i = 0; i < c.length(); i++, r++) {
                tokens[r] = c.tokens()[i];
                positions[r] = c.start() + i;
            }
        }
        Activation x;
        if (isFirst()) {
            x = backend.allocate(rows, config.dim());
            backend.embed(embedding.w(), tokens, x);
        } else {
            if (hidden == null || hidden.length != rows * config.dim())
                throw new IllegalArgumentException("shard [" + from + ", " + to + ") needs " + rows + "x" + config.dim()
                        + " hidden floats, got " + (hidden == null ? "none" : hidden.length));
            x = backend.upload(hidden, rows, config.dim());
        }
        Activation pending = null;
        for (int l = 0; l < blocks.length; l++) pending = blocks[l].apply(backend, x, pending, positions, batch, l);
        if (pending != null) {
            backend.add(x, pending);
            backend.release(pending);
        }
        return x;
    }

    /** Logits of each chunk's logit rows, in chunk order; null when no chunk asks for any. */
    private Activation logits(List<Chunk> chunks, Activation x) {
        int[] selected = selectLogitRows(chunks);
        if (selected.length == 0) return null;
        Activation last = x;
        if (selected.length != x.rows()) {
            last = backend.allocate(selected.length, config.dim());
            backend.gatherRows(x, selected, last);
            backend.release(x);
        }
        Activation normed = norm.apply(backend, last);
        backend.release(last);
        Activation out = head.apply(backend, normed);
        backend.release(normed);
        return out;
    }

    private static int[] selectLogitRows(List<Chunk> chunks) {
        int n = 0;
        for (Chunk c : chunks) n += c.logitRows();
        int[] sel = new int[n];
        int r = 0, s = 0;
        for (Chunk c : chunks) {
            for (int i = c.length() - c.logitRows(); i < c.length(); i++) sel[s++] = r + i;
            r += c.length();
        }
        return sel;
    }

    @Override public void close() { }
}
