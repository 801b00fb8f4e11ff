package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.bench.Bench;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A speed test of the CUDA backend on random models of real shapes: the engine's own {@link Shard} with
 * weights generated on the device ({@link CudaBackend#syntheticWeights}), greedy sampling on the device.
 * {@code bin/mistral-flink bench cuda ARGS}, or in a JVM of the GPU bundle ({@code bin/gpu-tests --bench}):
 *
 * <pre>
 * java ... io.mistralflink.model.compute.cuda.CudaBench --model mistral-7b --batches 1,16,64,256 \
 *      --prompt 128 --new 128 --prefill 512 --prefill-batches 1,8 --warmup 1
 * </pre>
 * Decode tokens/s = batch x new tokens / time of the decode steps (after the prompt is in the caches),
 * after {@code --warmup} untimed runs of the same batch (as the peer, bench/hf_peer.py, warms up: the JIT
 * has compiled the step's Java side and the step's CUDA graph is captured, as in a running job);
 * prefill tokens/s = batch x prompt / time of the prefill steps: chunks of at most W tokens, as many
 * sequences' chunks in one step as the backend's step budget holds ({@link CudaBackend#stepTokens}, 8192),
 * for each length of {@code --prefill} (a list) and each batch of {@code --prefill-batches}.
 *
 * <p>Long prompts, then decode: {@code --long-prompts 2048,8192 --long-batches 1,8,32 --long-new 64}
 * prefills each batch of prompts of each length, runs 8 untimed decode steps (JIT, graph capture), then
 * times {@code --long-new} decode steps and prints them beside the bandwidth bound: the step's bytes
 * (the weights, plus each sequence's cached keys and values within the window, bf16, every layer) at
 * {@code --hbm-gbs} (4800, the H200's HBM3e).
 *
 * <p>Prefill A/B in one JVM: {@code --ab-prefill 2048,8192 --ab-variants base,rows,fused --ab-reps 3} prefills batch 1 at
 * each length under each variant in turn (rep 1 of every variant, then rep 2, ...; graphs off, so every run is eager
 * alike) and prints each variant's best; variants: {@code base} (the knobs off), {@code rows} ({@code rowSwiGlu}),
 * {@code fused} ({@code rowSwiGlu} and {@code fusedPrefill}), {@code qkv} ({@code fusedPrefill} alone), {@code fused16} ({@code fused}
 * with {@code bf16SwiGlu}: SwiGLU's GEMM writing bf16, read by rows), {@code lean} and {@code lean16} ({@code fused} and {@code fused16}
 * with {@code bf16MatmulInputs}); a variant's name may add {@code +rms} ({@code rowsRmsNorm}), e.g. {@code fused+rms}.
 * {@code --profile-prefill 2048,8192} then prints, for each length and variant, the device time of one such prefill by kernel
 * ({@link CudaBackend#profileReport}); {@code --profile-decode 8192:8,8192:32} one eager decode step's by kernel after prompts of
 * that length at that batch (8 steps summed).
 */
public final class CudaBench {
    static ModelConfig config(String model) {
        return switch (model) {
            case "mistral-7b" -> new ModelConfig("mistral", 32000, 4096, 14336, 32, 32, 8, 128, 4096, true, 32768, 1e-5f, 10000.0, 0, 0, false, 1, 2);
            case "mixtral-8x7b" -> new ModelConfig("mixtral", 32000, 4096, 14336, 32, 32, 8, 128, 32768, false, 32768, 1e-5f, 1e6, 8, 2, false, 1, 2);
            default -> throw new IllegalArgumentException("unknown model " + model + " (mistral-7b, mixtral-8x7b)");
        };
    }

    /** Tensors of the right names and shapes, no bytes: the backend makes their values. */
    static Map<String, Tensor> shapes(ModelConfig c) {
        Map<String, Tensor> t = new HashMap<>();
        java.util.function.BiConsumer<String, long[]> add = (n, s) -> t.put(n, new Tensor(n, DType.BF16, s, MemorySegment.NULL));
        add.accept("model.embed_tokens.weight", new long[]{c.vocabSize(), c.dim()});
        add.accept("lm_head.weight", new long[]{c.vocabSize(), c.dim()});
        add.accept("model.norm.weight", new long[]{c.dim()});
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            add.accept(p + "input_layernorm.weight", new long[]{c.dim()});
            add.accept(p + "post_attention_layernorm.weight", new long[]{c.dim()});
            add.accept(p + "self_attn.q_proj.weight", new long[]{c.qDim(), c.dim()});
            add.accept(p + "self_attn.k_proj.weight", new long[]{c.kvDim(), c.dim()});
            add.accept(p + "self_attn.v_proj.weight", new long[]{c.kvDim(), c.dim()});
            add.accept(p + "self_attn.o_proj.weight", new long[]{c.dim(), c.qDim()});
            if (c.isMixtureOfExperts()) {
                String m = p + "block_sparse_moe.";
                add.accept(m + "gate.weight", new long[]{c.experts(), c.dim()});
                for (int e = 0; e < c.experts(); e++) {
                    add.accept(m + "experts." + e + ".w1.weight", new long[]{c.hiddenDim(), c.dim()});
                    add.accept(m + "experts." + e + ".w2.weight", new long[]{c.dim(), c.hiddenDim()});
                    add.accept(m + "experts." + e + ".w3.weight", new long[]{c.hiddenDim(), c.dim()});
                }
            } else {
                add.accept(p + "mlp.gate_proj.weight", new long[]{c.hiddenDim(), c.dim()});
                add.accept(p + "mlp.up_proj.weight", new long[]{c.hiddenDim(), c.dim()});
                add.accept(p + "mlp.down_proj.weight", new long[]{c.dim(), c.hiddenDim()});
            }
        }
        return t;
    }

    public static void main(String[] args) {
        Map<String, String> a = new HashMap<>(Map.of("--model", "mistral-7b", "--batches", "1,16,64,256", "--prompt", "128",
                "--new", "128", "--prefill", "512", "--prefill-batches", "1,8", "--label", "", "--warmup", "1"));
        a.putAll(Map.of("--long-prompts", "", "--long-batches", "1,8,32", "--long-new", "64", "--hbm-gbs", "4800"));
        a.putAll(Map.of("--ab-prefill", "", "--ab-variants", "base,rows,fused", "--ab-reps", "3", "--profile-prefill", "", "--profile-decode", ""));
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i], args[i + 1]);
        String model = a.get("--model");
        ModelConfig cfg = config(model);
        int promptLen = Integer.parseInt(a.get("--prompt")), newTokens = Integer.parseInt(a.get("--new"));
        String label = a.get("--label").isEmpty() ? "" : " [" + a.get("--label") + "]";
        long t0 = System.nanoTime();
        try (CudaBackend b = CudaBackend.open(0)) {
            b.syntheticWeights(42L);
            Checkpoint ck = Checkpoint.of(Path.of("random-" + model), cfg, shapes(cfg), Arena.ofShared());
            Shard s = Shard.whole(ck, b);
            System.out.printf("%s on %s: %.1f GB of bf16 weights made on the device in %.1f s%s%n", model, b.name(),
                    b.weightBytes() / 1e9, (System.nanoTime() - t0) / 1e9, label);
            abPrefill(b, s, model, a, label);
            for (String bs : a.get("--batches").split(",")) {
                if (bs.isBlank()) continue;
                int batch = Integer.parseInt(bs.strip());
                for (int w = 0; w < Integer.parseInt(a.get("--warmup")); w++) decode(s, batch, promptLen, newTokens, 5 + w);
                b.resetReplayTimings();
                double[] r = decode(s, batch, promptLen, newTokens, 7);
                System.out.printf("RESULT %s decode batch=%d prompt=%d new=%d: %.1f tok/s (%.2f ms/step, weights read at %.0f GB/s); prefill %.0f tok/s%s%n",
                        model, batch, promptLen, newTokens, r[0], r[1], b.weightBytes() / (r[1] * 1e6), r[2], label);
                System.out.println(b.counters());
            }
            for (String ls : a.get("--prefill").split(","))
                for (String bs : a.get("--prefill-batches").split(",")) {
                    if (bs.isBlank() || ls.isBlank()) continue;
                    int batch = Integer.parseInt(bs.strip()), len = Integer.parseInt(ls.strip());
                    double best = 0;
                    for (int rep = 0; rep < 2; rep++) best = Math.max(best, prefill(s, batch, len, 11 + rep, b.stepTokens()));
                    System.out.printf("RESULT %s prefill batch=%d prompt=%d: %.0f tok/s%s%n", model, batch, len, best, label);
                }
            double hbm = Double.parseDouble(a.get("--hbm-gbs")) * 1e9;
            for (String ls : a.get("--long-prompts").split(","))
                for (String bs : a.get("--long-batches").split(",")) {
                    if (bs.isBlank() || ls.isBlank()) continue;
                    int batch = Integer.parseInt(bs.strip()), len = Integer.parseInt(ls.strip()), steps = Integer.parseInt(a.get("--long-new"));
                    b.resetReplayTimings();
                    double[] r = longDecode(s, batch, len, steps, b.stepTokens());
                    // bytes a step reads: the weights, and per sequence and layer its keys and values within the window (bf16),
                    // over the timed steps (after 8 untimed ones)
                    double bytes = Bench.decodeBytesPerStep(cfg, b.weightBytes(), batch, len + 8, steps, 2);
                    double bound = batch * hbm / bytes;
                    System.out.printf("RESULT %s decode after prompt=%d batch=%d: %.1f tok/s (%.2f ms/step), bandwidth bound %.1f tok/s "
                                    + "(%.1f GB a step at %.0f GB/s): %.0f%%; prefill %.0f tok/s%s%n", model, len, batch, r[0], r[1], bound,
                            bytes / 1e9, hbm / 1e9, 100 * r[0] / bound, r[2], label);
                    System.out.println(b.counters());
                }
            profileDecode(b, s, model, a.get("--profile-decode"));
            System.out.println(b.counters());
        }
    }

    /** The prefill A/B and profiles of {@code --ab-prefill} and {@code --profile-prefill} (see the class comment); the knobs restored after. */
    private static void abPrefill(CudaBackend b, Shard s, String model, Map<String, String> a, String label) {
        if (a.get("--ab-prefill").isBlank() && a.get("--profile-prefill").isBlank()) return;
        String[] variants = a.get("--ab-variants").split(",");
        int reps = Integer.parseInt(a.get("--ab-reps"));
        CudaTuning t = CudaTuning.fromSystemProperties();
        b.graphs(false);
        for (String ls : a.get("--ab-prefill").split(",")) {
            if (ls.isBlank()) continue;
            int len = Integer.parseInt(ls.strip());
            double[] best = new double[variants.length];
            for (int rep = 0; rep < reps; rep++)
                for (int v = 0; v < variants.length; v++) {
                    variant(b, variants[v]);
                    double tps = prefill(s, 1, len, 11 + rep, b.stepTokens());
                    System.out.printf("AB %s prefill batch=1 prompt=%d rep %d %s: %.0f tok/s%n", model, len, rep + 1, variants[v], tps);
                    best[v] = Math.max(best[v], tps);
                }
            StringBuilder sb = new StringBuilder();
            for (int v = 0; v < variants.length; v++)
                sb.append(String.format("%s%s %.0f tok/s (%.3fx)", v == 0 ? "" : ", ", variants[v], best[v], best[v] / best[0]));
            System.out.printf("RESULT %s prefill A/B batch=1 prompt=%d, eager, best of %d: %s%s%n", model, len, reps, sb, label);
        }
        for (String pl : a.get("--profile-prefill").split(",")) {
            if (pl.isBlank()) continue;
            int len = Integer.parseInt(pl.strip());
            for (String v : variants) {
                variant(b, v);
                prefill(s, 1, len, 10, b.stepTokens());   // this shape's pool grown before the profiled run
                b.profile(true);
                double tps = prefill(s, 1, len, 11, b.stepTokens());
                b.profile(false);
                System.out.printf("PROFILE %s prefill batch=1 prompt=%d, variant %s: %.0f tok/s with events around every command%n", model, len, v, tps);
                System.out.print(b.profileReport());
            }
        }
        knobs(b, t.rowSwiGlu(), t.fusedPrefill(), t.bf16SwiGlu(), t.bf16MatmulInputs());
        b.rowsRmsNorm(t.rowsRmsNorm());
        b.graphs(t.graphs());
    }

    /**
     * {@code --profile-decode 8192:8,8192:32}: for each prompt length and batch, the prompts prefilled, then 8 eager decode steps
     * (graphs off) with events around every command: the device time of one decode step by kernel (or GEMM shape), summed over the 8.
     */
    private static void profileDecode(CudaBackend b, Shard s, String model, String spec) {
        if (spec.isBlank()) return;
        boolean graphs = CudaTuning.fromSystemProperties().graphs();
        b.graphs(false);
        for (String item : spec.split(",")) {
            String[] lb = item.strip().split(":");
            int len = Integer.parseInt(lb[0]), batch = Integer.parseInt(lb[1]);
            List<KvCache> caches = new ArrayList<>();
            for (int i = 0; i < batch; i++) caches.add(s.newCache());
            try {
                int[] last = fill(s, caches, len, new Random(len * 31L + batch), b.stepTokens());
                SamplingParams[] ps = new SamplingParams[batch];
                Arrays.fill(ps, SamplingParams.greedy(16));
                int[] stepNo = new int[batch];
                for (int step = 0; step < 16; step++) {
                    if (step == 8) b.profile(true);   // 8 unprofiled steps first: the pool's sizes for this shape grown
                    List<Chunk> chunks = new ArrayList<>(batch);
                    for (int i = 0; i < batch; i++) chunks.add(new Chunk(caches.get(i), len + step, new int[]{last[i]}, Chunk.Logits.LAST));
                    Arrays.fill(stepNo, step + 1);
                    last = s.sample(chunks, null, ps, stepNo);
                }
                b.profile(false);
                System.out.printf("PROFILE %s decode after prompt=%d batch=%d: 8 eager steps, events around every command%n", model, len, batch);
                System.out.print(b.profileReport());
            } finally {
                caches.forEach(KvCache::close);
            }
        }
        b.graphs(graphs);
    }

    /** A variant: a base name (the four knobs below), then {@code +rms} ({@code rowsRmsNorm}), off unless named. */
    private static void variant(CudaBackend b, String name) {
        String[] parts = name.split("\\+");
        String v = parts[0];
        b.rowsRmsNorm(false);
        for (int i = 1; i < parts.length; i++)
            switch (parts[i]) {
                case "rms" -> b.rowsRmsNorm(true);
                default -> throw new IllegalArgumentException("unknown variant flag +" + parts[i] + " (+rms)");
            }
        switch (v) {
            case "base" -> knobs(b, false, false, false, false);
            case "rows" -> knobs(b, true, false, false, false);
            case "qkv" -> knobs(b, false, true, false, false);
            case "fused" -> knobs(b, true, true, false, false);
            case "fused16" -> knobs(b, true, true, true, false);
            case "lean" -> knobs(b, true, true, false, true);
            case "lean16" -> knobs(b, true, true, true, true);
            default -> throw new IllegalArgumentException("unknown variant " + v + " (base, rows, qkv, fused, fused16, lean, lean16)");
        }
    }

    private static void knobs(CudaBackend b, boolean rowSwiGlu, boolean fusedPrefill, boolean bf16SwiGlu, boolean bf16MatmulInputs) {
        b.rowSwiGlu(rowSwiGlu);
        b.fusedPrefill(fusedPrefill);
        b.bf16SwiGlu(bf16SwiGlu);
        b.bf16MatmulInputs(bf16MatmulInputs);
    }

    private static int[] randomTokens(Random r, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 3 + r.nextInt(vocab - 3);
        return t;
    }

    /** Prefills batch prompts, then runs newTokens greedy decode steps: {decode tok/s, ms/step, prefill tok/s}. */
    static double[] decode(Shard s, int batch, int promptLen, int newTokens, long seed) {
        Random r = new Random(seed);
        int vocab = s.config().vocabSize();
        List<KvCache> caches = new ArrayList<>();
        for (int i = 0; i < batch; i++) caches.add(s.newCache());
        SamplingParams greedy = SamplingParams.greedy(newTokens);
        int[] last = new int[batch];
        try {
            long p0 = System.nanoTime();
            int perStep = Math.max(1, 8192 / promptLen);
            for (int from = 0; from < batch; from += perStep) {
                int n = Math.min(perStep, batch - from);
                List<Chunk> chunks = new ArrayList<>();
                for (int i = 0; i < n; i++) chunks.add(new Chunk(caches.get(from + i), 0, randomTokens(r, promptLen, vocab), Chunk.Logits.LAST));
                SamplingParams[] ps = new SamplingParams[n];
                Arrays.fill(ps, greedy);
                int[] next = s.sample(chunks, null, ps, new int[n]);
                System.arraycopy(next, 0, last, from, n);
            }
            long p1 = System.nanoTime();
            SamplingParams[] ps = new SamplingParams[batch];
            Arrays.fill(ps, greedy);
            int[] steps = new int[batch];
            long d0 = System.nanoTime();
            for (int step = 0; step < newTokens; step++) {
                List<Chunk> chunks = new ArrayList<>(batch);
                for (int i = 0; i < batch; i++) chunks.add(new Chunk(caches.get(i), promptLen + step, new int[]{last[i]}, Chunk.Logits.LAST));
                Arrays.fill(steps, step + 1);
                last = s.sample(chunks, null, ps, steps);
            }
            long d1 = System.nanoTime();
            double secs = (d1 - d0) / 1e9;
            return new double[]{batch * (double) newTokens / secs, secs * 1e3 / newTokens, batch * (double) promptLen / ((p1 - p0) / 1e9)};
        } finally {
            caches.forEach(KvCache::close);
        }
    }

    /** Tokens/s of prefilling batch prompts of len tokens (chunks of at most W, as many sequences a step as budget holds). */
    static double prefill(Shard s, int batch, int len, long seed, int budget) {
        List<KvCache> caches = new ArrayList<>();
        for (int i = 0; i < batch; i++) caches.add(s.newCache());
        try {
            long t0 = System.nanoTime();
            fill(s, caches, len, new Random(seed), budget);
            return batch * (double) len / ((System.nanoTime() - t0) / 1e9);
        } finally {
            caches.forEach(KvCache::close);
        }
    }

    /** Prefills len random tokens into each cache: chunks of at most W, several sequences a step within budget. The last tokens sampled. */
    static int[] fill(Shard s, List<KvCache> caches, int len, Random r, int budget) {
        int chunkLen = Math.min(len, s.config().window()), batch = caches.size();
        int perStep = Math.max(1, budget / chunkLen);
        int[] last = new int[batch];
        for (int from = 0; from < batch; from += perStep) {
            int n = Math.min(perStep, batch - from);
            for (int start = 0; start < len; start += chunkLen) {
                List<Chunk> chunks = new ArrayList<>();
                for (int i = 0; i < n; i++) chunks.add(new Chunk(caches.get(from + i), start, randomTokens(r, Math.min(chunkLen, len - start), s.config().vocabSize()), Chunk.Logits.LAST));
                SamplingParams[] ps = new SamplingParams[n];
                Arrays.fill(ps, SamplingParams.greedy(1));
                int[] next = s.sample(chunks, null, ps, new int[n]);
                System.arraycopy(next, 0, last, from, n);
            }
        }
        return last;
    }

    /** Prompts of len tokens, 8 untimed decode steps, then steps timed ones: {decode tok/s, ms/step, prefill tok/s}. */
    static double[] longDecode(Shard s, int batch, int len, int steps, int budget) {
        List<KvCache> caches = new ArrayList<>();
        for (int i = 0; i < batch; i++) caches.add(s.newCache());
        try {
            long p0 = System.nanoTime();
            int[] last = fill(s, caches, len, new Random(len * 31L + batch), budget);
            double prefill = batch * (double) len / ((System.nanoTime() - p0) / 1e9);
            SamplingParams[] ps = new SamplingParams[batch];
            Arrays.fill(ps, SamplingParams.greedy(steps + 8));
            int[] stepNo = new int[batch];
            long d0 = 0;
            for (int step = 0; step < steps + 8; step++) {
                if (step == 8) d0 = System.nanoTime();
                List<Chunk> chunks = new ArrayList<>(batch);
                for (int i = 0; i < batch; i++) chunks.add(new Chunk(caches.get(i), len + step, new int[]{last[i]}, Chunk.Logits.LAST));
                Arrays.fill(stepNo, step + 1);
                last = s.sample(chunks, null, ps, stepNo);
            }
            double secs = (System.nanoTime() - d0) / 1e9;
            return new double[]{batch * (double) steps / secs, secs * 1e3 / steps, prefill};
        } finally {
            caches.forEach(KvCache::close);
        }
    }
}
