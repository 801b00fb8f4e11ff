package io.mistralflink.model.generate;

import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.Sampler;

import java.util.List;

/**
 * Teacher-forced scoring of a token sequence: per-position negative log-likelihood of the next token,
 * fed in chunks of at most W tokens (the paper's chunked prefill).
 */
public final class Scorer {
    /** nll[i] = -log p(ids[i+1] | ids[..i]); argmax[i] of the logits at position i; logits at the last position. */
    public record Scores(double[] nll, int[] argmax, float[] lastLogits) {
        public double nllSum() { double s = 0; for (double v : nll) s += v; return s; }
        public double perplexity() { return Math.exp(nllSum() / nll.length); }
    }

    private final Shard model;
    private final int chunk;

    public Scorer(Shard model) { this(model, model.config().window()); }

    public Scorer(Shard model, int chunk) {
        if (!model.isFirst() || !model.isLast()) throw new IllegalArgumentException("scoring needs the whole model");
        this.model = model;
        this.chunk = Math.min(chunk, model.config().window());
    }

    public Scores score(int[] ids) {
        int vocab = model.config().vocabSize();
        double[] nll = new double[ids.length - 1];
        int[] argmax = new int[ids.length];
        float[] last = new float[vocab];
        try (KvCache cache = model.newCache()) {
            for (int start = 0; start < ids.length; start += chunk) {
                int n = Math.min(chunk, ids.length - start);
                int[] tokens = java.util.Arrays.copyOfRange(ids, start, start + n);
                float[] logits = model.forward(List.of(new Chunk(cache, start, tokens, Chunk.Logits.ALL)), null);
                for (int i = 0; i < n; i++) {
                    int pos = start + i, off = i * vocab;
                    argmax[pos] = Sampler.argmax(logits, off, vocab);
                    if (pos + 1 < ids.length) nll[pos] = Sampler.nll(logits, off, vocab, ids[pos + 1]);
                    else System.arraycopy(logits, off, last, 0, vocab);
                }
            }
        }
        return new Scores(nll, argmax, last);
    }
}
