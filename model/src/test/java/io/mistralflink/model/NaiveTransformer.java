package io.mistralflink.model;

import io.mistralflink.model.weights.Checkpoint;

/**
 * A deliberately plain reference: the whole sequence at once, scalar float math, an explicit
 * sliding-window mask and no cache. The engine's rolling cache and chunked prefill are checked
 * against it.
 */
final class NaiveTransformer {
    private final Checkpoint ckpt;
    private final ModelConfig c;

    NaiveTransformer(Checkpoint ckpt) { this.ckpt = ckpt; this.c = ckpt.config(); }

    private float[] w(String name) { return ckpt.tensor(name).toFloats(); }

    /** Logits [n][vocab] for every position. */
    float[][] logits(int[] ids) {
        int n = ids.length, d = c.dim();
        float[] emb = w("model.embed_tokens.weight");
        float[][] x = new float[n][d];
        for (int i = 0; i < n; i++) System.arraycopy(emb, ids[i] * d, x[i], 0, d);
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            float[][] h = norm(x, w(p + "input_layernorm.weight"));
            float[][] q = mul(h, w(p + "self_attn.q_proj.weight"), c.qDim());
            float[][] k = mul(h, w(p + "self_attn.k_proj.weight"), c.kvDim());
            float[][] v = mul(h, w(p + "self_attn.v_proj.weight"), c.kvDim());
            rope(q); rope(k);
            float[][] a = new float[n][c.qDim()];
            int hd = c.headDim(), group = c.heads() / c.kvHeads();
            for (int i = 0; i < n; i++)
                for (int hh = 0; hh < c.heads(); hh++) {
                    int kv = (hh / group) * hd;
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        boolean visible = j <= i && j > i - c.window();
                        if (!visible) { s[j] = Double.NEGATIVE_INFINITY; continue; }
                        double dot = 0;
                        for (int t = 0; t < hd; t++) dot += q[i][hh * hd + t] * k[j][kv + t];
                        s[j] = dot / Math.sqrt(hd);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j < n; j++)
                        for (int t = 0; t < hd; t++) a[i][hh * hd + t] += (float) (s[j] / sum * v[j][kv + t]);
                }
            add(x, mul(a, w(p + "self_attn.o_proj.weight"), d));
            float[][] h2 = norm(x, w(p + "post_attention_layernorm.weight"));
            if (c.isMixtureOfExperts()) {
                float[][] r = mul(h2, w(p + "block_sparse_moe.gate.weight"), c.experts());
                float[][] out = new float[n][d];
                for (int i = 0; i < n; i++) {
                    Integer[] order = new Integer[c.experts()];
                    for (int e = 0; e < order.length; e++) order[e] = e;
                    final int row = i;
                    java.util.Arrays.sort(order, (a1, b1) -> Float.compare(r[row][b1], r[row][a1]));
                    double sum = 0;
                    for (int t = 0; t < c.expertsPerToken(); t++) sum += Math.exp(r[i][order[t]] - r[i][order[0]]);
                    for (int t = 0; t < c.expertsPerToken(); t++) {
                        String e = p + "block_sparse_moe.experts." + order[t] + ".";
                        float[] y = swiglu(h2[i], w(e + "w1.weight"), w(e + "w3.weight"), w(e + "w2.weight"));
                        double g = Math.exp(r[i][order[t]] - r[i][order[0]]) / sum;
                        for (int j = 0; j < d; j++) out[i][j] += (float) (g * y[j]);
                    }
                }
                add(x, out);
            } else {
                float[] g = w(p + "mlp.gate_proj.weight"), u = w(p + "mlp.up_proj.weight"), dn = w(p + "mlp.down_proj.weight");
                float[][] out = new float[n][];
                for (int i = 0; i < n; i++) out[i] = swiglu(h2[i], g, u, dn);
                add(x, out);
            }
        }
        return mul(norm(x, w("model.norm.weight")), w(c.tiedEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight"), c.vocabSize());
    }

    private float[] swiglu(float[] x, float[] w1, float[] w3, float[] w2) {
        int hid = w1.length / x.length;
        float[] a = new float[hid];
        for (int j = 0; j < hid; j++) {
            double g = 0, u = 0;
            for (int t = 0; t < x.length; t++) { g += w1[j * x.length + t] * x[t]; u += w3[j * x.length + t] * x[t]; }
            a[j] = (float) (g / (1 + Math.exp(-g)) * u);
        }
        return mul(new float[][]{a}, w2, x.length)[0];
    }

    private void rope(float[][] m) {
        int hd = c.headDim(), half = hd / 2;
        for (int pos = 0; pos < m.length; pos++)
            for (int h = 0; h < m[pos].length; h += hd)
                for (int i = 0; i < half; i++) {
                    double ang = pos * Math.pow(c.ropeTheta(), -2.0 * i / hd);
                    float x1 = m[pos][h + i], x2 = m[pos][h + i + half];
                    m[pos][h + i] = (float) (x1 * Math.cos(ang) - x2 * Math.sin(ang));
                    m[pos][h + i + half] = (float) (x2 * Math.cos(ang) + x1 * Math.sin(ang));
                }
    }

    private float[][] norm(float[][] x, float[] g) {
        float[][] out = new float[x.length][x[0].length];
        for (int i = 0; i < x.length; i++) {
            double ss = 0;
            for (float v : x[i]) ss += v * v;
            double s = 1 / Math.sqrt(ss / x[i].length + c.normEps());
            for (int j = 0; j < x[i].length; j++) out[i][j] = (float) (g[j] * x[i][j] * s);
        }
        return out;
    }

    private static float[][] mul(float[][] x, float[] w, int outDim) {
        int k = x[0].length;
        float[][] out = new float[x.length][outDim];
        for (int i = 0; i < x.length; i++)
            for (int j = 0; j < outDim; j++) {
                double s = 0;
                for (int t = 0; t < k; t++) s += w[j * k + t] * x[i][t];
                out[i][j] = (float) s;
            }
        return out;
    }

    private static void add(float[][] x, float[][] y) {
        for (int i = 0; i < x.length; i++) for (int j = 0; j < x[i].length; j++) x[i][j] += y[i][j];
    }
}
