package io.mistralflink.model.compute.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.Sampler;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The CUDA backend against the CPU engine and the Hugging Face reference, on a GPU machine only
 * ({@code MISTRALFLINK_GPU_TESTS=1}; {@code bin/gpu-tests} runs it there).
 *
 * <p>Tolerance (bf16): the GPU rounds matmul inputs and cached keys/values to bf16 where the CPU keeps
 * fp32, so logits differ by rounding noise that the reference's peaked logits dwarf. Bounds, on logits
 * of magnitude ~10: max |logit difference| over the last-position vocabulary <= {@link #LOGIT_TOL};
 * per-position NLL difference <= {@link #NLL_TOL} for the dense model; for Mixtral the same bound on 95%
 * of positions (bf16 rounding of the router's input can flip a near-tie between two experts, which moves
 * that token's NLL: 17 of 498 positions above 0.15, worst 0.63, in the second GPU run) and perplexity
 * within {@link #PPL_TOL} relative; prefill in chunks of 7 vs 64
 * within {@link #CHUNK_TOL} (different matmul paths round differently to bf16); greedy tokens equal to the
 * reference except at near-ties (gap between HF's and our token in the CPU's logits below
 * {@link #NEAR_TIE}), which are reported, not failed. First GPU run (H200, 2026-11-29): worst logit
 * difference 0.086 (tiny-mistral) and 0.124 (tiny-mixtral); 2 of 8 greedy continuations diverged, at
 * gaps 0.0037 and 0.032.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@EnabledIfEnvironmentVariable(named = "MISTRALFLINK_GPU_TESTS", matches = "1|true")
class CudaEngineTest {
    /** Relative error of the tensor-core prefill attention (bf16 q and softmax weights) against the CPU's fp32. */
    static final double FLASH_TOL = 1.5e-2;
    static final double LOGIT_TOL = 0.2, NLL_TOL = 0.15, PPL_TOL = 0.02, CHUNK_TOL = 0.15, NEAR_TIE = 0.1;

    private CudaBackend gpu;
    private CpuBackend cpu;
    private final List<Checkpoint> ckpts = new ArrayList<>();

    @BeforeAll void open() {
        gpu = CudaBackend.open(0);
        cpu = new CpuBackend();
        System.out.println("GPU: " + gpu.name());
    }

    @AfterAll void close() {
        ckpts.forEach(Checkpoint::close);
        gpu.close();
        cpu.close();
    }

    private Checkpoint ckpt(String name) {
        Checkpoint c = Checkpoint.open(TestModels.model(name));
        ckpts.add(c);
        return c;
    }

    // ------------------------------------------------------------------ single operations

    private static double relErr(float[] got, float[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < want.length; i++) {
            assertFalse(Float.isNaN(got[i]), "NaN at " + i);
            num += (got[i] - want[i]) * (double) (got[i] - want[i]);
            den += want[i] * (double) want[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    private static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    private static Tensor bf16Tensor(Arena arena, String name, Random r, int rows, int cols) {
        MemorySegment seg = arena.allocate(2L * rows * cols, 64);
        for (long i = 0; i < (long) rows * cols; i++)
            seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, CudaBackend.toBf16((float) (r.nextGaussian() / Math.sqrt(cols))));
        return new Tensor(name, DType.BF16, cols == 1 ? new long[]{rows} : new long[]{rows, cols}, seg);
    }

    /**
     * Every matmul path against the CPU: with the tensor-core small GEMM (up to 32 rows: groups of 8, 16 and 32
     * rows, feature counts not a multiple of its tiles, K of 96 and 7 on the older paths) and without it (mmaGemmRows 0:
     * the GEMV for one row, cuBLAS with and without split-K from two).
     */
    @ParameterizedTest @ValueSource(ints = {32, 0})
    void matmulMatchesCpuForEveryPath(int mmaRows) {
        Random r = new Random(1);
        gpu.mmaGemmRows(mmaRows);
        try (Arena arena = Arena.ofShared()) {
            double worst = 0;
            for (int[] s : new int[][]{{1, 256, 96}, {2, 4096, 1024}, {3, 4096, 1024}, {4, 512, 128}, {7, 1024, 4096}, {8, 704, 256}, {37, 256, 704}, {300, 1000, 256}, {5, 250, 7},
                    // split-K GEMMs (the slices summed by a kernel): 8, 4 and 2 slices
                    {64, 1024, 4096}, {16, 4096, 2048}, {20, 3000, 1536},
                    // the small GEMM's groups of rows: 9-16, 17-32 (32 features a block), one row; features not a multiple of 16 or 32
                    {1, 1000, 4096}, {12, 4096, 4096}, {32, 4096, 1024}, {24, 1000, 1536}, {17, 72, 14336}}) {
                int m = s[0], n = s[1], k = s[2];
                Tensor t = bf16Tensor(arena, "w", r, n, k);
                float[] x = randn(r, m * k);
                // round x to bf16 so that both sides multiply the same numbers
                for (int i = 0; i < x.length; i++) x[i] = Float.intBitsToFloat(CudaBackend.toBf16(x[i]) << 16);
                float[] want = run(cpu, t, x, m, n, k), got = run(gpu, t, x, m, n, k);
                double e = relErr(got, want);
                System.out.printf("matmul %dx%d by %dx%d (mmaGemmRows %d): rel err %.2e%n", m, k, n, k, mmaRows, e);
                worst = Math.max(worst, e);
            }
            assertTrue(worst < 1e-5, "matmul worst rel err " + worst);
        } finally {
            gpu.mmaGemmRows(CudaTuning.fromSystemProperties().mmaGemmRows());
        }
    }

    /**
     * The fused forms against the CPU's separate ops: three projections stacked side by side at upload, in one
     * launch of the tensor-core small GEMM (up to 32 rows; mmaGemmRows 0: the GEMV for one row) or in one cuBLAS
     * GEMM split by columns (more rows, with and without split-K); SwiGLU's gate, up and product likewise.
     */
    @ParameterizedTest @ValueSource(ints = {32, 0})
    void fusedProjectionsMatchCpu(int mmaRows) {
        Random r = new Random(11);
        gpu.mmaGemmRows(mmaRows);
        gpu.bf16SwiGlu(false);   // the fp32 GEMM output (bf16's: bf16SwiGluMatchesCpuWithinBf16Rounding)
        gpu.bf16MatmulInputs(false);   // SwiGLU's fp32 output (its bf16 alone: the model tests, bf16SwiGluMatchesCpuWithinBf16Rounding)
        try (Arena arena = Arena.ofShared()) {
            int k = 256;
            Tensor q = bf16Tensor(arena, "q", r, 512, k), kk = bf16Tensor(arena, "k", r, 128, k), v = bf16Tensor(arena, "v", r, 128, k);
            Tensor gate = bf16Tensor(arena, "gate", r, 704, k), up = bf16Tensor(arena, "up", r, 704, k);
            for (int m : new int[]{1, 5, 8, 13, 20, 32, 40, 64}) {
                float[] x = randn(r, m * k);
                for (int i = 0; i < x.length; i++) x[i] = Float.intBitsToFloat(CudaBackend.toBf16(x[i]) << 16);
                float[][] want = projections(cpu, x, m, k, q, kk, v, gate, up), got = projections(gpu, x, m, k, q, kk, v, gate, up);
                for (int i = 0; i < want.length; i++) {
                    double e = relErr(got[i], want[i]);
                    System.out.printf("fused output %d, %d rows (mmaGemmRows %d): rel err %.2e%n", i, m, mmaRows, e);
                    assertTrue(e < 1e-5, "fused output " + i + " of " + m + " rows: rel err " + e);
                }
            }
        } finally {
            gpu.mmaGemmRows(CudaTuning.fromSystemProperties().mmaGemmRows());
            restoreKnobs();
        }
    }

    /** SwiGLU beyond 32 rows with the stacked GEMM's output in bf16: within the rounding of gate and up to bf16 (8 bits). */
    @Test void bf16SwiGluMatchesCpuWithinBf16Rounding() {
        Random r = new Random(12);
        gpu.bf16SwiGlu(true);
        try (Arena arena = Arena.ofShared()) {
            int k = 512;
            Tensor q = bf16Tensor(arena, "q", r, 256, k), kk = bf16Tensor(arena, "k", r, 64, k), v = bf16Tensor(arena, "v", r, 64, k);
            Tensor gate = bf16Tensor(arena, "gate", r, 1408, k), up = bf16Tensor(arena, "up", r, 1408, k);
            for (int m : new int[]{33, 64, 300}) {
                float[] x = randn(r, m * k);
                for (int i = 0; i < x.length; i++) x[i] = Float.intBitsToFloat(CudaBackend.toBf16(x[i]) << 16);
                float[][] want = projections(cpu, x, m, k, q, kk, v, gate, up), got = projections(gpu, x, m, k, q, kk, v, gate, up);
                double e = relErr(got[3], want[3]);
                System.out.printf("bf16 SwiGLU, %d rows: rel err %.2e%n", m, e);
                assertTrue(e < 8e-3, "bf16 SwiGLU of " + m + " rows: rel err " + e);
            }
        } finally {
            gpu.bf16SwiGlu(CudaTuning.fromSystemProperties().bf16SwiGlu());
        }
    }

    /**
     * SwiGLU by rows ({@code silu_mul_rows}) gives the element loop's values bit for bit, and q, k and v left in the stacked
     * GEMM's rows ({@code fusedPrefill}'s deferred split) read back as split_columns wrote them: 2-300 rows.
     */
    @Test void rowSwiGluAndDeferredSplitMatchTheUsualPath() {
        Random r = new Random(13);
        try (Arena arena = Arena.ofShared()) {
            int k = 512;
            Tensor q = bf16Tensor(arena, "q", r, 256, k), kk = bf16Tensor(arena, "k", r, 64, k), v = bf16Tensor(arena, "v", r, 64, k);
            Tensor gate = bf16Tensor(arena, "gate", r, 1408, k), up = bf16Tensor(arena, "up", r, 1408, k);
            for (boolean bf16Out : new boolean[]{false, true})
            for (int m : new int[]{2, 33, 64, 300}) {
                float[] x = randn(r, m * k);
                gpu.bf16SwiGlu(bf16Out);
                float[][] usual, got;
                try {
                    setFusedKnobs(false);
                    usual = projections(gpu, x, m, k, q, kk, v, gate, up);
                    setFusedKnobs(true);
                    got = projections(gpu, x, m, k, q, kk, v, gate, up);
                } finally {
                    restoreKnobs();
                }
                for (int i = 0; i < 4; i++) assertArrayEquals(usual[i], got[i], m + " rows, output " + i + (bf16Out ? ", bf16 GEMM output" : ""));
            }
            System.out.println("SwiGLU by rows (fp32 and bf16 GEMM output) and the deferred q/k/v split: equal to the usual path at 2, 33, 64, 300 rows");
        }
    }

    /**
     * The fused prefill path ({@code fusedPrefill}: q, k, v from the stacked GEMM's rows, rotated and rounded to bf16 in one
     * kernel, the prefill kernel reading bf16 q, the cache written from bf16) with SwiGLU by rows, and also with the norms' and
     * SwiGLU's outputs kept in bf16 alone ({@code bf16MatmulInputs}: what their matmuls read is the same), against the usual path and
     * the CPU engine: the 478-token prompt in chunks of 7 and W (7.5 windows of tiny-mistral), every position's nll and the
     * last logits, within the bounds of chunk invariance; the fused kernels must have run.
     */
    @ParameterizedTest @CsvSource({"tiny-mistral,false", "tiny-mistral,true", "tiny-mixtral,false", "tiny-mixtral,true"})
    void fusedPrefillMatchesTheUsualPath(String name, boolean bf16MatmulInputs) {
        Checkpoint c = ckpt(name);
        Shard g = Shard.whole(c, gpu), h = Shard.whole(c, cpu);
        int[] ids = TestModels.ints(TestModels.reference().path("models").path(name).path("prompts").get(2).get("input_ids"));
        int window = Math.min(ids.length, c.config().window());
        Scorer.Scores cpuScores = new Scorer(h).score(ids);
        for (int chunk : new int[]{7, window}) {
            Scorer.Scores usual, fused;
            long before, ran;
            try {
                setFusedKnobs(false);
                usual = new Scorer(g, chunk).score(ids);
                setFusedKnobs(true);
                gpu.bf16MatmulInputs(bf16MatmulInputs);
                before = gpu.fusedPrefillSteps();
                fused = new Scorer(g, chunk).score(ids);
                ran = gpu.fusedPrefillSteps() - before;
            } finally {
                restoreKnobs();
            }
            double w = 0, wc = 0, wn = 0;
            for (int v = 0; v < usual.lastLogits().length; v++) {
                w = Math.max(w, Math.abs(usual.lastLogits()[v] - fused.lastLogits()[v]));
                wc = Math.max(wc, Math.abs(cpuScores.lastLogits()[v] - fused.lastLogits()[v]));
            }
            int nllOver = 0;
            for (int i = 0; i < usual.nll().length; i++) {
                double d = Math.abs(usual.nll()[i] - fused.nll()[i]);
                wn = Math.max(wn, d);
                if (d > NLL_TOL) nllOver++;
            }
            System.out.printf("%s fused prefill%s, chunks of %d, %d tokens (%d fused attention launches): max logit diff vs usual %.2e, "
                    + "max nll diff %.2e; vs the CPU engine %.2e; ppl fused %.4f usual %.4f cpu %.4f%n", name,
                    bf16MatmulInputs ? " (norm and SwiGLU outputs in bf16 alone)" : "", chunk, ids.length, ran, w, wn, wc,
                    fused.perplexity(), usual.perplexity(), cpuScores.perplexity());
            assertTrue(ran >= c.config().layers(), "the fused path ran " + ran + " times");
            // Not bit for bit (likely: ptxas contracts the rotation's products differently in the two kernels), and a last-bit change
            // flips a bf16 rounding now and then, which the tiny models amplify as they do a change of chunk (H200, session 8:
            // tiny-mistral 0.080 logits / 0.085 nll, tiny-mixtral 6.7e-5 / 0.24 at a routing near-tie). So the chunk-invariance bounds.
            assertTrue(w <= CHUNK_TOL, "fused vs usual: logits " + w);
            if (c.config().isMixtureOfExperts()) assertTrue(nllOver <= usual.nll().length / 20, nllOver + " positions' nll differ by more than " + NLL_TOL);
            else assertTrue(wn <= NLL_TOL, "fused vs usual: nll " + wn);
            assertTrue(wc <= LOGIT_TOL, "fused vs the CPU: " + wc);
        }
    }

    private void setFusedKnobs(boolean on) {
        gpu.rowSwiGlu(on);
        gpu.fusedPrefill(on);
        gpu.bf16MatmulInputs(false);
    }

    /** The knobs as the JVM's system properties set them (the suite may run with the new paths on). */
    private void restoreKnobs() {
        CudaTuning t = CudaTuning.fromSystemProperties();
        gpu.rowSwiGlu(t.rowSwiGlu());
        gpu.fusedPrefill(t.fusedPrefill());
        gpu.bf16SwiGlu(t.bf16SwiGlu());
        gpu.bf16MatmulInputs(t.bf16MatmulInputs());
        gpu.rowsRmsNorm(t.rowsRmsNorm());
    }

    private static float[][] projections(Backend b, float[] x, int m, int k, Tensor q, Tensor kk, Tensor v, Tensor gate, Tensor up) {
        Activation xa = b.upload(x, m, k);
        Activation[] qkv = {b.allocate(m, q.rows()), b.allocate(m, kk.rows()), b.allocate(m, v.rows())};
        b.matmul(xa, b.weights(q, kk, v), qkv);
        Activation h = b.allocate(m, gate.rows());
        b.swiGlu(xa, b.weight(gate), b.weight(up), h);
        return new float[][]{b.download(qkv[0]), b.download(qkv[1]), b.download(qkv[2]), b.download(h)};
    }

    private static float[] run(Backend b, Tensor t, float[] x, int m, int n, int k) {
        Weight w = b.weight(t);
        Activation xa = b.upload(x, m, k), out = b.allocate(m, n);
        b.matmul(xa, w, out);
        return b.download(out);
    }

    @Test void elementwiseOpsMatchCpu() {
        Random r = new Random(2);
        try (Arena arena = Arena.ofShared()) {
            int rows = 5, cols = 256, headDim = 32;
            Tensor gain = bf16Tensor(arena, "g", r, cols, 1);
            float[] x = randn(r, rows * cols), y = randn(r, rows * cols);
            int[] pos = {0, 1, 77, 4000, 9};
            float[][] res = new float[2][];
            int i = 0;
            for (Backend b : List.of(cpu, gpu)) {
                Activation a = b.upload(x, rows, cols), c = b.upload(y, rows, cols), o = b.allocate(rows, cols);
                b.rmsNorm(a, b.weight(gain), 1e-5f, o);
                b.rotary(o, c, headDim, pos, 10000.0);
                b.siluMul(o, c);
                b.add(o, a);
                Activation g = b.allocate(3, cols);
                b.gatherRows(o, new int[]{4, 0, 2}, g);
                // routing of the 3 gathered rows to 2 of 4 experts, then each row's pairs summed back
                Backend.Routing rt = b.route(b.upload(new float[]{0f, 3f, 1f, -2f, 5f, 4f, -1f, 0f, 2f, 2.5f, 7f, 1f}, 3, 4), 2);
                Activation pairs = b.allocate(6, cols), acc = b.allocate(3, cols);
                b.dispatch(g, rt, pairs);
                b.combine(pairs, rt, acc);
                float[] out = b.download(o), combined = b.download(acc);
                res[i] = java.util.Arrays.copyOf(out, out.length + combined.length);
                System.arraycopy(combined, 0, res[i++], out.length, combined.length);
            }
            double e = relErr(res[1], res[0]);
            System.out.printf("rmsNorm/rotary/siluMul/add/gather/dispatch/combine: rel err %.2e%n", e);
            assertTrue(e < 1e-5, "rel err " + e);
        }
    }

    private static float[] bf16Round(float[] x) {
        for (int i = 0; i < x.length; i++) x[i] = Float.intBitsToFloat(CudaBackend.toBf16(x[i]) << 16);
        return x;
    }

    /** Router logits whose top k are well separated: per row a random order of the experts, one apart, plus noise. */
    private static float[] separatedLogits(Random r, int rows, int experts) {
        float[] l = new float[rows * experts];
        for (int row = 0; row < rows; row++) {
            List<Integer> order = new ArrayList<>();
            for (int e = 0; e < experts; e++) order.add(e);
            java.util.Collections.shuffle(order, r);
            for (int i = 0; i < experts; i++) l[row * experts + order.get(i)] = (experts - i) + 0.2f * (float) r.nextGaussian();
        }
        return l;
    }

    /** The device's routing equals the CPU's on well-separated logits: grouping, offsets, each row's pairs; weights to fp32 rounding. */
    @Test void routingMatchesCpu() {
        Random r = new Random(6);
        for (int[] c : new int[][]{{1, 8, 2}, {3, 8, 2}, {32, 8, 2}, {300, 8, 2}, {5000, 8, 2}, {17, 4, 1}, {40, 64, 8}}) {
            int rows = c[0], experts = c[1], topK = c[2];
            float[] logits = separatedLogits(r, rows, experts);
            CpuBackend.CpuRouting want = (CpuBackend.CpuRouting) cpu.route(cpu.upload(logits, rows, experts), topK);
            CudaMoe.HostRouting got = gpu.download(gpu.route(gpu.upload(logits, rows, experts), topK));
            assertArrayEquals(want.offsets(), got.offsets(), rows + " rows: offsets");
            assertArrayEquals(want.pairRow(), got.pairRow(), rows + " rows: pair rows");
            assertArrayEquals(want.rowPairs(), got.rowPairs(), rows + " rows: each row's pairs");
            for (int p = 0; p < want.pairWeight().length; p++)
                assertEquals(want.pairWeight()[p], got.pairWeight()[p], 1e-6, rows + " rows: weight of pair " + p);
            System.out.printf("routing of %d rows, top %d of %d: equal to the CPU's%n", rows, topK, experts);
        }
    }

    /**
     * route + dispatch + groupedMatmul + combine against the CPU, 8 experts, dim 256, hidden 512: the
     * grouped GEMV (up to 8 pairs by default; every case, an expert's pairs in chunks of up to 8, on a second
     * backend opened with {@code moeGemvPairs=1024}) and the cuBLAS path (32 and 300 rows).
     * Each op on identical bf16-rounded inputs within 1e-5; the whole SwiGLU mixture (whose hidden state
     * the GPU rounds to bf16 before w2) within 1e-2.
     */
    @Test void mixtureOfExpertsMatchesCpu() {
        Random r = new Random(5);
        int experts = 8, dim = 256, hidden = 512;
        try (Arena arena = Arena.ofShared()) {
            Tensor[] t1 = new Tensor[experts], t2 = new Tensor[experts], t3 = new Tensor[experts];
            for (int e = 0; e < experts; e++) {
                t1[e] = bf16Tensor(arena, "w1." + e, r, hidden, dim);
                t2[e] = bf16Tensor(arena, "w2." + e, r, dim, hidden);
                t3[e] = bf16Tensor(arena, "w3." + e, r, hidden, dim);
            }
            System.setProperty("mistralflink.cuda.moeGemvPairs", "1024");
            CudaBackend wide;
            try { wide = CudaBackend.open(0); } finally { System.clearProperty("mistralflink.cuda.moeGemvPairs"); }
            List<Backend> backends = List.of(cpu, gpu, wide);
            Weight[][][] ws = new Weight[3][3][experts];
            for (int b = 0; b < 3; b++)
                for (int e = 0; e < experts; e++) {
                    ws[b][0][e] = backends.get(b).weight(t1[e]);
                    ws[b][1][e] = backends.get(b).weight(t2[e]);
                    ws[b][2][e] = backends.get(b).weight(t3[e]);
                }
            for (int[] c : new int[][]{{1, 1}, {1, 2}, {3, 2}, {32, 2}, {300, 2}}) {
                int rows = c[0], topK = c[1], pairs = rows * topK;
                float[] logits = separatedLogits(r, rows, experts), x = bf16Round(randn(r, rows * dim)), h = bf16Round(randn(r, pairs * hidden));
                float[][][] res = new float[3][][];
                for (int b = 0; b < 3; b++) {
                    Backend be = backends.get(b);
                    Weight[] w1 = ws[b][0], w2 = ws[b][1], w3 = ws[b][2];
                    Backend.Routing rt = be.route(be.upload(logits, rows, experts), topK);
                    Activation xa = be.upload(x, rows, dim), xs = be.allocate(pairs, dim);
                    be.dispatch(xa, rt, xs);
                    Activation gate = be.allocate(pairs, hidden), up = be.allocate(pairs, hidden);
                    be.groupedMatmul(xs, w1, rt, gate);
                    be.groupedMatmul(xs, w3, rt, up);
                    float[] gateHost = be.download(gate);
                    be.siluMul(gate, up);
                    Activation ys = be.allocate(pairs, dim), out = be.allocate(rows, dim);
                    be.groupedMatmul(gate, w2, rt, ys);
                    be.combine(ys, rt, out);
                    // w2 and combine alone, on the same bf16 hidden state
                    Activation ha = be.upload(h, pairs, hidden), yh = be.allocate(pairs, dim), oh = be.allocate(rows, dim);
                    be.groupedMatmul(ha, w2, rt, yh);
                    be.combine(yh, rt, oh);
                    res[b] = new float[][]{be.download(xs), gateHost, be.download(yh), be.download(oh), be.download(out)};
                    be.release(xa, xs, gate, up, ys, out, ha, yh, oh);
                }
                String[] what = {"dispatch", "w1", "w2 alone", "combine alone", "whole mixture"};
                for (int g = 1; g < 3; g++)
                    for (int i = 0; i < what.length; i++) {
                        double e = relErr(res[g][i], res[0][i]);
                        String path = g == 2 || pairs <= 8 ? "grouped GEMV" : "cuBLAS";
                        System.out.printf("mixture, %d rows, top %d (%s): %s rel err %.2e%n", rows, topK, path, what[i], e);
                        assertTrue(e < (i == 4 ? 1e-2 : 1e-5), rows + " rows, " + path + ": " + what[i] + " rel err " + e);
                    }
            }
            wide.close();
        }
    }

    /**
     * Attention alone: a prefill that crosses the window in chunks, then decode steps, versus the CPU; decode
     * steps (chunks of 1) with two and four lanes per key and on tensor cores; query groups of 4 and 8 heads; prefill chunks by
     * the per-row kernel (exact but for summation order) and on tensor cores (q and the softmax weights
     * rounded to bf16: relative error about 3e-3, where a wrong key or mask gives errors of order 1).
     */
    @ParameterizedTest @CsvSource({"tiled2,simple", "tiled4,simple", "mma,simple", "tiled2,flash", "tiled4,flash", "mma,flash"})
    void attentionMatchesCpuAcrossTheWindow(String decodeKernel, String prefillKernel) {
        gpu.decodeAttention(decodeKernel);
        gpu.prefillAttention(prefillKernel);
        Random r = new Random(3);
        int heads = 8, hd = 32, window = 16, layers = 2;
        for (int kvHeads : new int[]{2, 1})
        for (int chunk : new int[]{16, 5, 1}) {
            KvCache cc = cpu.kvCache(layers, window, kvHeads * hd), gc = gpu.kvCache(layers, window, kvHeads * hd);
            double worst = 0;
            for (int start = 0; start < 60; start += chunk) {
                int n = Math.min(chunk, 60 - start);
                float[] q = randn(r, n * heads * hd), k = randn(r, n * kvHeads * hd), v = randn(r, n * kvHeads * hd);
                // keys and values as bf16 (the GPU cache holds bf16)
                for (float[] a : new float[][]{k, v}) for (int i = 0; i < a.length; i++) a[i] = Float.intBitsToFloat(CudaBackend.toBf16(a[i]) << 16);
                float[][] outs = new float[2][];
                int bi = 0;
                for (Backend b : List.of(cpu, gpu)) {
                    KvCache c = b == cpu ? cc : gc;
                    AttentionBatch batch = new AttentionBatch(heads, kvHeads, hd, window, List.of(new AttentionBatch.Segment(c, 0, n, start)));
                    Activation out = b.allocate(n, heads * hd);
                    for (int l = 0; l < layers; l++)
                        b.attention(b.upload(q, n, heads * hd), b.upload(k, n, kvHeads * hd), b.upload(v, n, kvHeads * hd), out, batch, l);
                    outs[bi++] = b.download(out);
                }
                worst = Math.max(worst, relErr(outs[1], outs[0]));
            }
            cc.close();
            gc.close();
            System.out.printf("attention (%s decode, %s prefill, groups of %d), chunks of %d over 60 positions, window 16: worst rel err %.2e%n",
                    decodeKernel, prefillKernel, heads / kvHeads, chunk, worst);
            assertTrue(worst < (chunk > 1 && prefillKernel.equals("flash") ? FLASH_TOL : 1e-5), "attention rel err " + worst);
        }
        gpu.decodeAttention("auto");
        gpu.prefillAttention("flash");
    }

    /**
     * Prefill attention over prompts many windows long, against the CPU: two sequences in one batch (so a
     * step holds tiles of two segments of different lengths), chunks of 1, 7, W and the whole prompt in one
     * pass (a segment longer than the window: its early keys reach its late queries only through the mask),
     * for every head size with a tensor-core kernel and for sizes that take the per-row kernel (40, 48:
     * strided value dimensions; 36: element loads; 264, 320: above 256, sums in shared memory). Query groups of 4, two layers of one cache.
     */
    @ParameterizedTest @ValueSource(ints = {32, 64, 80, 96, 128, 256, 48, 40, 36, 320, 264})
    void prefillAttentionMatchesCpuOverManyWindows(int hd) {
        int window = 64, total = 300;
        boolean flash = CudaAttention.flashHeadDim(hd);
        for (int chunk : new int[]{1, 7, window, total}) {
            List<float[]> want = prefillOverManyWindows(cpu, hd, chunk, window, total), got = prefillOverManyWindows(gpu, hd, chunk, window, total);
            double worst = 0;
            for (int i = 0; i < want.size(); i++) worst = Math.max(worst, relErr(got.get(i), want.get(i)));
            System.out.printf("prefill attention, head size %d (%s), chunks of %d and %d over %d positions, window %d: worst rel err %.2e%n",
                    hd, flash ? "tensor cores" : "per-row kernel", chunk, chunkB(chunk, total), total, window, worst);
            assertTrue(worst < (flash && chunk > 1 ? FLASH_TOL : 1e-5), "head size " + hd + ", chunks of " + chunk + ": rel err " + worst);
        }
    }

    private static int chunkB(int chunk, int total) { return chunk == 1 ? 1 : chunk == total ? total : chunk + 3; }

    /**
     * Attention of two sequences of {@code total} positions prefilled side by side (chunks of {@code chunk} and {@link #chunkB}),
     * query groups of 4, two layers of one cache, random bf16-exact keys and values (seeded by the head size): each step's output.
     */
    private static List<float[]> prefillOverManyWindows(Backend b, int hd, int chunk, int window, int total) {
        Random r = new Random(hd);
        int heads = 8, kvHeads = 2, layers = 2, cb = chunkB(chunk, total);
        KvCache[] c = {b.kvCache(layers, window, kvHeads * hd), b.kvCache(layers, window, kvHeads * hd)};
        List<float[]> outs = new ArrayList<>();
        try {
            int[] at = {0, 0};
            while (at[0] < total || at[1] < total) {
                int na = Math.min(chunk, total - at[0]), nb = Math.min(cb, total - at[1]), n = na + nb;
                float[] q = randn(r, n * heads * hd), k = randn(r, n * kvHeads * hd), v = randn(r, n * kvHeads * hd);
                for (float[] a : new float[][]{k, v}) for (int i = 0; i < a.length; i++) a[i] = Float.intBitsToFloat(CudaBackend.toBf16(a[i]) << 16);
                List<AttentionBatch.Segment> segs = new ArrayList<>();
                if (na > 0) segs.add(new AttentionBatch.Segment(c[0], 0, na, at[0]));
                if (nb > 0) segs.add(new AttentionBatch.Segment(c[1], na, nb, at[1]));
                AttentionBatch batch = new AttentionBatch(heads, kvHeads, hd, window, segs);
                Activation out = b.allocate(n, heads * hd);
                for (int l = 0; l < layers; l++)
                    b.attention(b.upload(q, n, heads * hd), b.upload(k, n, kvHeads * hd), b.upload(v, n, kvHeads * hd), out, batch, l);
                outs.add(b.download(out));
                at[0] += na;
                at[1] += nb;
            }
        } finally {
            for (KvCache x : c) x.close();
        }
        return outs;
    }

    /**
     * RMSNorm and add + RMSNorm by float4s ({@code rowsRmsNorm}: more than 32 rows) against the CPU and against the usual kernel:
     * 33, 300 and 2,048 rows of 4,096 (the 7B's), 40 rows of 4,100 and of 36 (other multiples of 4), and 300 rows of 4,098 (not one:
     * the usual kernel), the residual sum stored back exactly (one fp32 add either way), the normed rows within fp32 summation order;
     * with {@code bf16MatmulInputs} the bf16 rounding alone, read back through from_bf16, within bf16 rounding of the CPU.
     */
    @Test void rowsRmsNormMatchesCpuAndTheUsualKernel() {
        Random r = new Random(21);
        try (Arena arena = Arena.ofShared()) {
            for (int[] shape : new int[][]{{33, 4096}, {300, 4096}, {2048, 4096}, {40, 4100}, {40, 36}, {300, 4098}})
                for (boolean bf16Only : new boolean[]{false, true}) {
                    int rows = shape[0], dim = shape[1];
                    Tensor gain = bf16Tensor(arena, "g", r, dim, 1);
                    float[] x = randn(r, rows * dim), y = randn(r, rows * dim);
                    float[][] cpuOut = normBoth(cpu, gain, x, y, rows, dim), usual, rowsOut;
                    try {
                        gpu.bf16MatmulInputs(bf16Only);
                        gpu.rowsRmsNorm(false);
                        usual = normBoth(gpu, gain, x, y, rows, dim);
                        gpu.rowsRmsNorm(true);
                        long before = gpu.rowsNormLaunches();
                        rowsOut = normBoth(gpu, gain, x, y, rows, dim);
                        assertEquals(dim == 4098 ? 0 : 2, gpu.rowsNormLaunches() - before, rows + " x " + dim + ": norms by float4s");
                    } finally {
                        restoreKnobs();
                    }
                    assertArrayEquals(usual[1], rowsOut[1], rows + " x " + dim + ": the residual sum");
                    assertArrayEquals(cpuOut[1], rowsOut[1], rows + " x " + dim + ": the residual sum vs the CPU");
                    double tol = bf16Only ? 8e-3 : 1e-5;
                    double eu = Math.max(relErr(rowsOut[0], usual[0]), relErr(rowsOut[2], usual[2]));
                    double ec = Math.max(relErr(rowsOut[0], cpuOut[0]), relErr(rowsOut[2], cpuOut[2]));
                    System.out.printf("RMSNorm by float4s, %d x %d%s: rel err vs the usual kernel %.2e, vs the CPU %.2e%n", rows, dim,
                            bf16Only ? " (bf16 alone)" : "", eu, ec);
                    assertTrue(eu < tol && ec < tol, rows + " x " + dim + ": rel err " + eu + " / " + ec);
                }
        }
    }

    /** rms_norm(x), then acc = x + y with rms_norm(acc): {the first norm, acc, the second norm}. */
    private static float[][] normBoth(Backend b, Tensor gain, float[] x, float[] y, int rows, int dim) {
        Weight g = b.weight(gain);
        Activation a = b.upload(x, rows, dim), d = b.upload(y, rows, dim), o1 = b.allocate(rows, dim), o2 = b.allocate(rows, dim);
        b.rmsNorm(a, g, 1e-5f, o1);
        b.addRmsNorm(a, d, g, 1e-5f, o2);
        return new float[][]{b.download(o1), b.download(a), b.download(o2)};
    }

    /** Long windows take the split-over-the-window path: compare with the CPU at 3000 cached keys, each decode kernel. */
    @ParameterizedTest @ValueSource(strings = {"tiled2", "tiled4", "mma"})
    void splitAttentionMatchesCpu(String decodeKernel) {
        gpu.decodeAttention(decodeKernel);
        Random r = new Random(4);
        int heads = 4, kvHeads = 1, hd = 128, window = 4096, n0 = 3000;
        KvCache cc = cpu.kvCache(1, window, hd), gc = gpu.kvCache(1, window, hd);
        float[] k0 = randn(r, n0 * hd), v0 = randn(r, n0 * hd), q0 = randn(r, n0 * heads * hd);
        for (float[] a : new float[][]{k0, v0}) for (int i = 0; i < a.length; i++) a[i] = Float.intBitsToFloat(CudaBackend.toBf16(a[i]) << 16);
        float[][] outs = new float[2][];
        int bi = 0;
        for (Backend b : List.of(cpu, gpu)) {
            KvCache c = b == cpu ? cc : gc;
            for (int s = 0; s < n0; s += 1000) {   // prefill in 3 chunks
                float[] q = java.util.Arrays.copyOfRange(q0, s * heads * hd, (s + 1000) * heads * hd);
                float[] k = java.util.Arrays.copyOfRange(k0, s * hd, (s + 1000) * hd), v = java.util.Arrays.copyOfRange(v0, s * hd, (s + 1000) * hd);
                AttentionBatch batch = new AttentionBatch(heads, kvHeads, hd, window, List.of(new AttentionBatch.Segment(c, 0, 1000, s)));
                b.attention(b.upload(q, 1000, heads * hd), b.upload(k, 1000, hd), b.upload(v, 1000, hd), b.allocate(1000, heads * hd), batch, 0);
            }
            float[] q = randn(new Random(9), heads * hd), k = randn(new Random(10), hd), v = randn(new Random(11), hd);
            for (float[] a : new float[][]{k, v}) for (int i = 0; i < a.length; i++) a[i] = Float.intBitsToFloat(CudaBackend.toBf16(a[i]) << 16);
            AttentionBatch batch = new AttentionBatch(heads, kvHeads, hd, window, List.of(new AttentionBatch.Segment(c, 0, 1, n0)));
            Activation out = b.allocate(1, heads * hd);
            b.attention(b.upload(q, 1, heads * hd), b.upload(k, 1, hd), b.upload(v, 1, hd), out, batch, 0);
            outs[bi++] = b.download(out);
        }
        double e = relErr(outs[1], outs[0]);
        gpu.decodeAttention("auto");
        System.out.printf("split attention (%s decode) over 3001 keys: rel err %.2e%n", decodeKernel, e);
        assertTrue(e < 1e-4, "split attention rel err " + e);
    }

    /**
     * Device sampling against the host Sampler: batches of rows with mixed params in one call (greedy,
     * no params, temperatures, top-k including 1 and more than the vocabulary, top-p down to 1e-6,
     * random seeds and steps), over logits with ties (quantised, mostly equal, +0 and -0), masked
     * (-inf) tokens and rows whose whole mass is in one token. Every token must equal the host's,
     * except a draw that lands within 1e-9 (relative) of a top-p cut or a cumulative boundary, where
     * summation order may decide: such cases are counted and printed (expected none).
     */
    @Test void deviceSamplingMatchesTheHostSampler() {
        deviceSamplingMatchesTheHost(6, new float[]{0f});
    }

    /**
     * min_p on the device against the host Sampler, as above: min_p from 0.001 to 1 (only the most likely
     * tokens) with every temperature, top-k and top-p; near-boundary draws include a weight within 1e-9
     * of the min_p threshold.
     */
    @Test void deviceMinPSamplingMatchesTheHostSampler() {
        deviceSamplingMatchesTheHost(7, new float[]{0f, 1e-3f, 0.02f, 0.1f, 0.5f, 0.9f, 1f});
    }

    private void deviceSamplingMatchesTheHost(long seed, float[] minPs) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] temps = {0.3f, 0.7f, 1f, 1.5f, 5f}, ps = {1f, 0.9f, 0.5f, 1e-6f};
        int[] ks = {0, 1, 5, 50, 1000, 40000};
        int sampled = 0, greedy = 0, nulls = 0, nearBoundary = 0;
        for (int vocab : new int[]{32000, 1000, 7}) {
            for (int batch = 0; batch < 30; batch++) {
                int rows = 1 + r.nextInt(16);
                float[] logits = new float[rows * vocab];
                SamplingParams[] params = new SamplingParams[rows];
                int[] steps = new int[rows];
                for (int i = 0; i < rows; i++) {
                    fillLogits(r, logits, i * vocab, vocab, r.nextInt(5));
                    int kind = r.nextInt(12);
                    if (kind == 0) continue;   // no params: -1
                    params[i] = new SamplingParams(kind == 1 ? 0f : temps[r.nextInt(temps.length)], ps[r.nextInt(ps.length)],
                            ks[r.nextInt(ks.length)], minPs[r.nextInt(minPs.length)], r.nextLong(), 8, false, List.of(), new int[0]);
                    steps[i] = r.nextInt(10_000);
                }
                Activation a = gpu.upload(logits, rows, vocab);
                int[] got = gpu.sample(a, params, steps);
                gpu.release(a);
                for (int i = 0; i < rows; i++) {
                    SamplingParams p = params[i];
                    if (p == null) {
                        assertEquals(-1, got[i], "row without params");
                        nulls++;
                        continue;
                    }
                    if (p.greedyDecoding()) greedy++; else sampled++;
                    int want = Sampler.sample(logits, i * vocab, vocab, p, steps[i]);
                    if (got[i] == want) continue;
                    double margin = p.greedyDecoding() ? Double.POSITIVE_INFINITY : boundaryMargin(logits, i * vocab, vocab, p, steps[i]);
                    System.out.printf("device sampling: vocab %d, %s, step %d: device %d, host %d, draw %.3e from a boundary%n",
                            vocab, p, steps[i], got[i], want, margin);
                    assertTrue(margin < 1e-9, "device token " + got[i] + " != host " + want + " away from any boundary (" + margin + "), vocab "
                            + vocab + ", " + p + ", step " + steps[i]);
                    nearBoundary++;
                }
            }
        }
        System.out.printf("device sampling: %d sampled and %d greedy rows equal to the host Sampler, %d near-boundary draws differ, %d rows without params%n",
                sampled - nearBoundary, greedy, nearBoundary, nulls);
        assertTrue(sampled + greedy >= 500, "only " + (sampled + greedy) + " cases");
    }

    /** Logits of one of five kinds: gaussian, quantised to a few levels, mostly equal, one dominant token, gaussian with +-0 and -inf. */
    private static void fillLogits(SplittableRandom r, float[] l, int off, int vocab, int kind) {
        double spread = 1 + r.nextInt(12);
        for (int i = 0; i < vocab; i++) {
            double g = r.nextGaussian();
            l[off + i] = switch (kind) {
                case 1 -> Math.round(g * 2) / 2f;                  // a few levels, many ties
                case 2 -> r.nextInt(vocab) < 3 ? 1 + r.nextInt(3) : 0f;   // nearly all equal
                default -> (float) (g * spread);
            };
        }
        if (kind == 3) l[off + r.nextInt(vocab)] += 80f;          // the whole mass in one token
        if (kind == 4)
            for (int j = 0; j < Math.max(1, vocab / 50); j++) {
                l[off + r.nextInt(vocab)] = 0f;
                l[off + r.nextInt(vocab)] = -0f;
                if (vocab > 7) l[off + r.nextInt(vocab)] = Float.NEGATIVE_INFINITY;
            }
    }

    /**
     * How near (relative) the host's draw came to a boundary that decides it, in double, in candidate
     * order: the top-p cut (cumulative share against top-p), the min-p cut (weights against min-p) and
     * the cumulative weights against the target.
     */
    private static double boundaryMargin(float[] l, int off, int vocab, SamplingParams p, int step) {
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        // the host's key order: logit descending (+0 before -0), then token id
        java.util.Arrays.sort(order, (a, b) -> {
            int c = Float.compare(l[off + b], l[off + a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        float max = l[off + Sampler.argmax(l, off, vocab)];
        double[] cum = new double[keep];
        double c = 0;
        for (int i = 0; i < keep; i++) cum[i] = c += Math.exp((l[off + order[i]] - max) * (1.0 / p.temperature()));
        double total = cum[keep - 1], margin = Double.POSITIVE_INFINITY;
        int n = keep;
        if (p.topP() < 1f) {
            n = 0;
            while (n < keep && (n == 0 ? 0 : cum[n - 1]) / total < p.topP()) n++;
            for (int i = 0; i < keep; i++) margin = Math.min(margin, Math.abs(cum[i] / total - p.topP()));
        }
        if (p.minP() > 0) {
            int passing = 0;
            for (int i = 0; i < n; i++) {
                double w = Math.exp((l[off + order[i]] - max) * (1.0 / p.temperature()));
                margin = Math.min(margin, Math.abs(w - p.minP()));
                if (w >= p.minP()) passing = i + 1;
            }
            n = Math.max(1, passing);
        }
        double target = Sampler.uniform(p.seed(), step) * cum[n - 1];
        for (int i = 0; i < n; i++) margin = Math.min(margin, Math.abs(target - cum[i]) / cum[n - 1]);
        return margin;
    }

    // ------------------------------------------------------------------ whole models

    /**
     * What {@code eval} computes, on the GPU: the perplexity of the reference's 12 Brown documents (first 1,024
     * tokens of BOS + document + EOS, teacher forcing, prefill in the scorer's chunks across the 64-token
     * window), each within 1% of Hugging Face's float32 figure.
     */
    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void brownPerplexitiesWithinOnePercentOfHuggingFace(String name) {
        Checkpoint c = ckpt(name);
        java.util.Map<String, String> docs = TestModels.brownDocuments();
        Scorer scorer = new Scorer(Shard.whole(c, gpu));
        double worst = 0, nll = 0, refNll = 0;
        long tokens = 0;
        int checked = 0;
        try (Tokenizer tok = Tokenizer.load(TestModels.model(name))) {
            for (JsonNode e : TestModels.reference().path("models").path(name).path("eval")) {
                int[] ids = TestModels.evalIds(tok.encode(docs.get(e.get("id").asText())), c.config().eosId());
                assertEquals(e.get("tokens").asInt(), ids.length, e.get("id") + " token count");
                Scorer.Scores s = scorer.score(ids);
                double ppl = s.perplexity(), ref = e.get("ppl").asDouble();
                System.out.printf("eval %s %s: %d tokens, perplexity GPU %.4f, HF float32 %.4f (%+.3f%%)%n",
                        name, e.get("id").asText(), ids.length, ppl, ref, 100 * (ppl / ref - 1));
                assertEquals(ref, ppl, 0.01 * ref, name + " perplexity of " + e.get("id"));
                worst = Math.max(worst, Math.abs(ppl / ref - 1));
                nll += Math.log(ppl) * (ids.length - 1);
                refNll += e.get("nll_sum").asDouble();
                tokens += ids.length - 1;
                checked++;
            }
        }
        assertEquals(12, checked);
        System.out.printf("eval %s, 12 documents: perplexity GPU %.4f, HF float32 %.4f, worst document %.3f%%%n",
                name, Math.exp(nll / tokens), Math.exp(refNll / tokens), 100 * worst);
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void logitsMatchCpuEngineWithinBf16Tolerance(String name) {
        Checkpoint c = ckpt(name);
        Shard g = Shard.whole(c, gpu), h = Shard.whole(c, cpu);
        double worstLogit = 0, worstNll = 0;
        int argmaxDiff = 0, positions = 0, nllOver = 0, nllCount = 0;
        for (JsonNode p : TestModels.reference().path("models").path(name).path("prompts")) {
            int[] ids = TestModels.ints(p.get("input_ids"));
            Scorer.Scores sg = new Scorer(g).score(ids), sh = new Scorer(h).score(ids);
            double[] ref = TestModels.doubles(p.get("last_logits"));
            double wl = 0, wr = 0;
            for (int v = 0; v < ref.length; v++) {
                wl = Math.max(wl, Math.abs(sg.lastLogits()[v] - sh.lastLogits()[v]));
                wr = Math.max(wr, Math.abs(sg.lastLogits()[v] - ref[v]));
            }
            double wn = 0;
            for (int i = 0; i < sg.nll().length; i++) {
                double d = Math.abs(sg.nll()[i] - sh.nll()[i]);
                wn = Math.max(wn, d);
                if (d > NLL_TOL) nllOver++;
                nllCount++;
            }
            assertEquals(sh.perplexity(), sg.perplexity(), PPL_TOL * sh.perplexity(), name + " perplexity");
            for (int i = 0; i < ids.length; i++) if (sg.argmax()[i] != sh.argmax()[i]) argmaxDiff++;
            positions += ids.length;
            System.out.printf("%s prompt of %d tokens: max|logit gpu-cpu| %.4f, max|logit gpu-hf| %.4f, max|nll gpu-cpu| %.4f, ppl gpu %.4f cpu %.4f%n",
                    name, ids.length, wl, wr, wn, sg.perplexity(), sh.perplexity());
            worstLogit = Math.max(worstLogit, wl);
            worstNll = Math.max(worstNll, wn);
        }
        System.out.printf("%s: worst logit diff %.4f, worst nll diff %.4f, argmax differs at %d of %d positions%n",
                name, worstLogit, worstNll, argmaxDiff, positions);
        assertTrue(worstLogit <= LOGIT_TOL, name + " logits differ by " + worstLogit);
        if (c.config().isMixtureOfExperts()) assertTrue(nllOver <= nllCount / 20, name + ": " + nllOver + " positions' nll differ by more than " + NLL_TOL);
        else assertTrue(worstNll <= NLL_TOL, name + " nll differs by " + worstNll);
    }

    /**
     * The 478-token prompt (7.5 windows of tiny-mistral; tiny-mixtral has no window, so W is one pass) prefilled
     * on the GPU in chunks of W, 7 and 1: each against the CPU engine (all positions' argmax and the last
     * logits) and against the W-chunk run (chunk invariance).
     */
    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void chunkedPrefillMatchesOnePass(String name) {
        Checkpoint c = ckpt(name);
        Shard g = Shard.whole(c, gpu), h = Shard.whole(c, cpu);
        JsonNode p = TestModels.reference().path("models").path(name).path("prompts").get(2);
        int[] ids = TestModels.ints(p.get("input_ids"));
        Scorer.Scores cpuScores = new Scorer(h).score(ids), a = new Scorer(g).score(ids);
        int window = Math.min(ids.length, c.config().window());
        for (int chunk : new int[]{7, 1}) {
            Scorer.Scores b = new Scorer(g, chunk).score(ids);
            double w = 0, wc = 0;
            for (int v = 0; v < a.lastLogits().length; v++) {
                w = Math.max(w, Math.abs(a.lastLogits()[v] - b.lastLogits()[v]));
                wc = Math.max(wc, Math.abs(cpuScores.lastLogits()[v] - b.lastLogits()[v]));
            }
            System.out.printf("%s: chunks of %d vs %d, %d tokens: max logit diff %.2e; vs the CPU engine %.2e; ppl gpu %.4f cpu %.4f%n",
                    name, chunk, window, ids.length, w, wc, b.perplexity(), cpuScores.perplexity());
            assertTrue(w <= CHUNK_TOL, "chunk invariance: " + w);
            assertTrue(wc <= LOGIT_TOL, "chunks of " + chunk + " vs the CPU: " + wc);
            assertEquals(cpuScores.perplexity(), b.perplexity(), PPL_TOL * cpuScores.perplexity(), name + " perplexity, chunks of " + chunk);
        }
    }

    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void greedyTokensMatchTheReference(String name) {
        Checkpoint c = ckpt(name);
        ModelConfig cfg = c.config();
        Shard g = Shard.whole(c, gpu), h = Shard.whole(c, cpu);
        List<JsonNode> prompts = new ArrayList<>();
        TestModels.reference().path("models").path(name).path("prompts").forEach(prompts::add);
        SamplingParams greedy = new SamplingParams(0f, 1f, 0, 0, 40, true, List.of(), new int[0]);
        try (Tokenizer tok = Tokenizer.load(TestModels.model(name))) {
            // all prompts in one continuous batch (decode steps of 4 rows, prefill chunks of the long prompt beside them)
            List<Sequence> seqs = prompts.stream()
                    .map(p -> new Sequence(p.get("prompt").asText(), TestModels.ints(p.get("input_ids")), greedy, cfg.eosId(), cfg.maxPositions()))
                    .toList();
            Generator.Timings t = new Generator(g, tok, 256).run(seqs);
            int mismatched = 0;
            for (int i = 0; i < seqs.size(); i++) {
                int[] want = TestModels.ints(prompts.get(i).get("greedy_ids")), got = seqs.get(i).generated();
                int at = 0;
                while (at < want.length && at < got.length && want[at] == got[at]) at++;
                if (at == want.length) {
                    System.out.printf("%s prompt %d (%d tokens): 40 greedy tokens equal to HF%n", name, i, seqs.get(i).promptLength());
                    assertEquals(prompts.get(i).get("greedy_text").asText(), seqs.get(i).text());
                    continue;
                }
                // Divergence: how close was the reference's choice to a tie?
                int[] prefix = new int[seqs.get(i).promptLength() + at];
                System.arraycopy(TestModels.ints(prompts.get(i).get("input_ids")), 0, prefix, 0, seqs.get(i).promptLength());
                System.arraycopy(want, 0, prefix, seqs.get(i).promptLength(), at);
                float[] logits = new Scorer(h).score(prefix).lastLogits();
                double gap = Math.abs(logits[want[at]] - logits[got[at]]);
                System.out.printf("%s prompt %d: diverges at generated token %d (HF %d, GPU %d); CPU logit gap between them %.4f%n",
                        name, i, at, want[at], got[at], gap);
                if (gap > NEAR_TIE) mismatched++;
            }
            System.out.printf("%s: %d steps, prefill %.1f ms, decode %.1f ms; %s%n", name, t.steps(), t.prefillNanos() / 1e6, t.decodeNanos() / 1e6, gpu.counters());
            assertEquals(0, mismatched, name + ": greedy tokens diverge from HF away from near-ties");
        }
    }

    /**
     * Graph replay must not change results: the same generation with graphs off gives the same tokens,
     * greedy and seeded (the per-step draws reach the replayed sampling kernel through staging memory),
     * with a step's graph in segments of 7 commands (launched as the host issues them) or whole.
     * Decode steps are replayed as graphs, Mixtral's too (its routing never leaves the device).
     */
    @ParameterizedTest @CsvSource({"tiny-mistral,false", "tiny-mistral,true", "tiny-mixtral,false", "tiny-mixtral,true"})
    void graphReplayGivesTheSameTokens(String name, boolean seeded) {
        Checkpoint c = ckpt(name);
        JsonNode p = TestModels.reference().path("models").path(name).path("prompts").get(2);
        int[] ids = TestModels.ints(p.get("input_ids"));
        SamplingParams params = seeded
                ? new SamplingParams(0.9f, 0.95f, 40, 1234, 60, true, List.of(), new int[0])
                : new SamplingParams(0f, 1f, 0, 0, 60, true, List.of(), new int[0]);
        String[][] runs = {{"true", "7"}, {"true", "0"}, {"false", "0"}};   // graphs, segment length
        int[][] out = new int[runs.length][];
        for (int run = 0; run < runs.length; run++) {
            String oldGraphs = System.getProperty("mistralflink.cuda.graphs"), oldSegment = System.getProperty("mistralflink.cuda.graphSegment");
            System.setProperty("mistralflink.cuda.graphs", runs[run][0]);
            System.setProperty("mistralflink.cuda.graphSegment", runs[run][1]);
            try (CudaBackend b = CudaBackend.open(0); Tokenizer tok = Tokenizer.load(TestModels.model(name))) {
                Shard s = Shard.whole(c, b);
                Sequence q = new Sequence("x", ids, params, 2, 8192);
                new Generator(s, tok, 64).run(List.of(q));
                out[run] = q.generated();
                System.out.println(name + (seeded ? ", seeded" : ", greedy") + ", graphs " + runs[run][0] + ", segment " + runs[run][1] + ": " + b.counters());
                if (runs[run][0].equals("true")) {
                    // 60 decode steps: all but a few (the first two of a shape, attention's split changing) replayed
                    var m = java.util.regex.Pattern.compile("graphLaunches=(\\d+)").matcher(b.counters());
                    int perStep = runs[run][1].equals("0") ? 1 : 2;
                    assertTrue(m.find() && Integer.parseInt(m.group(1)) >= 40 * perStep, name + ": decode steps not graphed: " + b.counters());
                }
            } finally {
                if (oldGraphs == null) System.clearProperty("mistralflink.cuda.graphs"); else System.setProperty("mistralflink.cuda.graphs", oldGraphs);
                if (oldSegment == null) System.clearProperty("mistralflink.cuda.graphSegment"); else System.setProperty("mistralflink.cuda.graphSegment", oldSegment);
            }
        }
        assertArrayEquals(out[2], out[0], "graph replay in segments changed the tokens");
        assertArrayEquals(out[2], out[1], "graph replay changed the tokens");
    }
}
