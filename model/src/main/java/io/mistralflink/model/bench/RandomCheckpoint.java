package io.mistralflink.model.bench;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.ModelException;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Deterministic random bf16 checkpoints of real shapes, built in memory, so speed can be measured at
 * 7B and 8x7B sizes without downloading weights. The numbers are noise; only the shapes are real.
 */
public final class RandomCheckpoint {
    private RandomCheckpoint() {}

    public static ModelConfig shape(String name, int layers) {
        return switch (name) {
            case "mistral-7b" -> new ModelConfig("mistral", 32000, 4096, 14336, or(layers, 32), 32, 8, 128, 4096, true, 32768,
                    1e-5f, 10000.0, 0, 0, false, 1, 2);
            case "mixtral-8x7b" -> new ModelConfig("mixtral", 32000, 4096, 14336, or(layers, 32), 32, 8, 128, 32768, false, 32768,
                    1e-5f, 1e6, 8, 2, false, 1, 2);
            case "tiny-mistral" -> new ModelConfig("mistral", 4096, 256, 704, or(layers, 6), 8, 2, 32, 64, true, 8192,
                    1e-5f, 10000.0, 0, 0, false, 1, 2);
            default -> throw new ModelException("unknown random model shape '" + name + "' (mistral-7b, mixtral-8x7b, tiny-mistral)");
        };
    }

    private static int or(int layers, int full) { return layers > 0 ? layers : full; }

    public static Checkpoint build(ModelConfig c, long seed) {
        Arena arena = Arena.ofShared();
        Map<String, Tensor> t = new HashMap<>();
        long[] state = {seed * 0x9E3779B97F4A7C15L + 1};
        java.util.function.BiConsumer<String, long[]> matrix = (name, shape) -> t.put(name, random(name, shape, arena, state));
        matrix.accept("model.embed_tokens.weight", new long[]{c.vocabSize(), c.dim()});
        matrix.accept("lm_head.weight", new long[]{c.vocabSize(), c.dim()});
        t.put("model.norm.weight", ones("model.norm.weight", c.dim(), arena));
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            matrix.accept(p + "self_attn.q_proj.weight", new long[]{c.qDim(), c.dim()});
            matrix.accept(p + "self_attn.k_proj.weight", new long[]{c.kvDim(), c.dim()});
            matrix.accept(p + "self_attn.v_proj.weight", new long[]{c.kvDim(), c.dim()});
            matrix.accept(p + "self_attn.o_proj.weight", new long[]{c.dim(), c.qDim()});
            t.put(p + "input_layernorm.weight", ones(p + "input_layernorm.weight", c.dim(), arena));
            t.put(p + "post_attention_layernorm.weight", ones(p + "post_attention_layernorm.weight", c.dim(), arena));
            if (c.isMixtureOfExperts()) {
                matrix.accept(p + "block_sparse_moe.gate.weight", new long[]{c.experts(), c.dim()});
                for (int e = 0; e < c.experts(); e++) {
                    String x = p + "block_sparse_moe.experts." + e + ".";
                    matrix.accept(x + "w1.weight", new long[]{c.hiddenDim(), c.dim()});
                    matrix.accept(x + "w2.weight", new long[]{c.dim(), c.hiddenDim()});
                    matrix.accept(x + "w3.weight", new long[]{c.hiddenDim(), c.dim()});
                }
            } else {
                matrix.accept(p + "mlp.gate_proj.weight", new long[]{c.hiddenDim(), c.dim()});
                matrix.accept(p + "mlp.up_proj.weight", new long[]{c.hiddenDim(), c.dim()});
                matrix.accept(p + "mlp.down_proj.weight", new long[]{c.dim(), c.hiddenDim()});
            }
        }
        return Checkpoint.of(Path.of("random:" + c.modelType()), c, t, arena);
    }

    /** Uniform in +-1/sqrt(fan-in), as bf16, from a xorshift stream. */
    private static Tensor random(String name, long[] shape, Arena arena, long[] state) {
        long n = shape[0] * shape[1];
        MemorySegment m = arena.allocate(n * 2, 64);
        float scale = (float) (2.0 / Math.sqrt(shape[1]));
        long s = state[0];
        for (long i = 0; i < n; i++) {
            s ^= s << 13; s ^= s >>> 7; s ^= s << 17;
            float u = ((s >>> 40) * 0x1p-24f - 0.5f) * scale;
            m.set(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2, (short) (Float.floatToRawIntBits(u) >>> 16));
        }
        state[0] = s;
        return new Tensor(name, DType.BF16, shape, m);
    }

    private static Tensor ones(String name, int n, Arena arena) {
        MemorySegment m = arena.allocate(n * 2L, 64);
        for (int i = 0; i < n; i++) m.set(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2L, (short) 0x3f80);
        return new Tensor(name, DType.BF16, new long[]{n}, m);
    }
}
