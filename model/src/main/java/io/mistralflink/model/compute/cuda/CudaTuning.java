package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Backends;

/**
 * The CUDA backend's tuning knobs in one place, each read from a {@code mistralflink.cuda.*} system property
 * ({@link #fromSystemProperties}); the defaults are the values measured best on an H200 ({@code bench/cuda-h200.md}).
 *
 * @param graphs                replay repeated step shapes as CUDA graphs ({@code graphs}, true)
 * @param graphSegment          commands per graph segment, 0: one graph a step ({@code graphSegment}, 64)
 * @param splitKMax             most K slices of a small-M GEMM, 1: off ({@code splitK}, 16)
 * @param splitKWaves           waves of output tiles split-K aims at ({@code splitKWaves}, 1)
 * @param moeGemvPairs          most (row, expert) pairs for the grouped GEMV, beyond: cuBLAS per expert ({@code moeGemvPairs}, 8)
 * @param attentionBlocksPerSm  decode attention blocks an SM aims at before cutting rows into parts ({@code attentionBlocksPerSm}, 8;
 *                              twice that for rows of 1,024 keys and more)
 * @param attentionMaxSplits    most parts of a row's keys ({@code attentionMaxSplits}, 16)
 * @param attentionKeysPerSplit fewest keys a part, of the key count rounded up to a power of two ({@code attentionKeysPerSplit}, 16)
 * @param decodeAttention       the decode kernel: auto | tiled2 | tiled4 (CUDA cores, two or four lanes per key) | mma (tensor cores)
 *                              ({@code decodeAttention}, auto: mma where it has a kernel (head sizes 32, 64, 128, groups of 1-8) for
 *                              rows of at least {@code mmaDecodeKeys} keys, else tiled by shape)
 * @param mmaDecodeKeys         keys of the longest row from which auto takes the tensor-core decode kernel ({@code mmaDecodeKeys}, 0:
 *                              always; H200, 7B, 128 + 128 at batch 64: 10,713 tok/s against 9,745 tiled, session 6 call 1)
 * @param mmaBlocksPerSm        blocks an SM the tensor-core decode kernel aims at, cutting rows into parts ({@code mmaBlocksPerSm}, 2)
 * @param decodeStages          key tiles a warp of the tensor-core decode kernel keeps in shared memory, 3 (2 and 4: head size 128,
 *                              groups of 4 only) ({@code decodeStages}, 3)
 * @param decodeFamily          decode kernel family: tiledp (next keys prefetched) | tiled ({@code decodeFamily}, tiledp)
 * @param flashPrefill          prefill attention on tensor cores (prefill.cu) where the head size has a kernel, else the
 *                              per-row kernel ({@code prefillAttention}: flash | simple, flash)
 * @param stepTokens            the default tokens of a step ({@code stepTokens}, {@link Backends#GPU_STEP_TOKENS})
 * @param mmaGemmRows           most rows of the tensor-core small GEMM ({@code gemm_small*}, {@code swiglu_small*}); 0: off, the GEMV
 *                              for one row and cuBLAS from two ({@code mmaGemmRows}, 0: H200, 7B, session 7 call 1, its first form
 *                              at 32: 128 + 128 batch 1 / 8 / 16 / 32 207.9 / 1,606.8 / 2,656.8 / 4,901.7 tok/s against
 *                              212.4 / 1,654.8 / 3,262.4 / 6,220.3 off)
 * @param mmaGemmOneRow         the small GEMM also for one row, instead of the GEMV ({@code mmaGemmOneRow}, true)
 * @param mmaGemmWide           17-32 rows: 32 features a block, x read half as often (true), or 16, twice the blocks
 *                              ({@code mmaGemmWide}, true)
 * @param bf16SwiGlu            more than 32 rows (prefill): SwiGLU's stacked gate/up GEMM writes bf16, read by
 *                              {@code silu_mul_rows_bf16} ({@code bf16SwiGlu}, true since session 9: see bf16MatmulInputs)
 * @param rowSwiGlu             more than one row: SwiGLU over the stacked GEMM's halves by rows, four columns a thread
 *                              ({@code silu_mul_rows}) instead of {@code silu_mul_stacked}'s element loop ({@code rowSwiGlu}, true: H200, 7B prefill
 *                              of 2,048 tokens 35,536 tok/s against 33,493, session 8, eager, one JVM)
 * @param fusedPrefill          tensor-core prefill: q, k and v taken from the stacked GEMM's rows by one kernel that rotates q and k
 *                              and rounds all three to bf16 ({@code qkv_rotary_bf16}), the prefill kernel reading q in bf16, the
 *                              cache written from the bf16 rows; instead of split_columns, rotary, two to_bf16 and kv_store from fp32
 *                              ({@code fusedPrefill}, true: with rowSwiGlu 36,405 tok/s
 *                              at 2,048 tokens, 29,737 at 8,192, against 33,493 / 27,974 off; the same roundings, up to a last-bit
 *                              difference of the rotation that now and then flips a bf16 rounding)
 * @param bf16MatmulInputs      more than 32 rows: the norms' and (with rowSwiGlu) SwiGLU's outputs, which only matmuls read, kept in
 *                              bf16 alone (an fp32 read, as a mixture's dispatch makes, gets the bf16 values: {@code from_bf16})
 *                              ({@code bf16MatmulInputs}, true since session 9: the GPU suite passed with it, bf16SwiGlu and rowsRmsNorm
 *                              on, Brown perplexities 630.41 / 1,405.48 against HF float32 630.45 / 1,404.67; with those two, H200,
 *                              7B prefill at batch 1, eager, one JVM, best of 3: 41,157 tok/s at 2,048 tokens against 37,128 with the
 *                              three off, 32,332 against 30,313 at 8,192)
 * @param rowsRmsNorm           more than 32 rows: RMSNorm and add + RMSNorm by float4s, a block of dim / 16 threads a row
 *                              ({@code rms_norm_rows}, {@code add_rms_norm_rows}) instead of {@code rms_row}'s 1,024 threads of four
 *                              values ({@code rowsRmsNorm}, true since session 9: add + RMSNorm of 2,048 x 4,096 in 39.6 us against
 *                              82.4, prefill at 2,048 tokens 38,580 tok/s against 35,734)
 */
record CudaTuning(boolean graphs, int graphSegment, int splitKMax, int splitKWaves, int moeGemvPairs, int attentionBlocksPerSm,
                  int attentionMaxSplits, int attentionKeysPerSplit, String decodeAttention, int mmaDecodeKeys, int mmaBlocksPerSm,
                  int decodeStages, String decodeFamily, boolean flashPrefill, int stepTokens, int mmaGemmRows,
                  boolean mmaGemmOneRow, boolean mmaGemmWide, boolean bf16SwiGlu, boolean rowSwiGlu, boolean fusedPrefill,
                  boolean bf16MatmulInputs, boolean rowsRmsNorm) {

    static CudaTuning fromSystemProperties() {
        String p = "mistralflink.cuda.";
        return new CudaTuning(Boolean.parseBoolean(System.getProperty(p + "graphs", "true")), Integer.getInteger(p + "graphSegment", 64),
                Integer.getInteger(p + "splitK", 16), Integer.getInteger(p + "splitKWaves", 1), Integer.getInteger(p + "moeGemvPairs", 8),
                Integer.getInteger(p + "attentionBlocksPerSm", 8), Integer.getInteger(p + "attentionMaxSplits", 16),
                Integer.getInteger(p + "attentionKeysPerSplit", 16), System.getProperty(p + "decodeAttention", "auto"),
                Integer.getInteger(p + "mmaDecodeKeys", 0), Integer.getInteger(p + "mmaBlocksPerSm", 2), Integer.getInteger(p + "decodeStages", 3),
                System.getProperty(p + "decodeFamily", "tiledp"), !"simple".equals(System.getProperty(p + "prefillAttention", "flash")),
                Integer.getInteger(p + "stepTokens", Backends.GPU_STEP_TOKENS), Integer.getInteger(p + "mmaGemmRows", 0),
                Boolean.parseBoolean(System.getProperty(p + "mmaGemmOneRow", "true")),
                Boolean.parseBoolean(System.getProperty(p + "mmaGemmWide", "true")),
                Boolean.parseBoolean(System.getProperty(p + "bf16SwiGlu", "true")),
                Boolean.parseBoolean(System.getProperty(p + "rowSwiGlu", "true")),
                Boolean.parseBoolean(System.getProperty(p + "fusedPrefill", "true")),
                Boolean.parseBoolean(System.getProperty(p + "bf16MatmulInputs", "true")),
                Boolean.parseBoolean(System.getProperty(p + "rowsRmsNorm", "true")));
    }
}
