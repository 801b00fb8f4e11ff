// Prefill attention in the manner of FlashAttention-2: a block takes a tile of up to 64 consecutive
// query rows of one segment and one query head, walks the keys its rows can see (the sliding window over
// the rolling cache, then the segment's own fresh keys) in tiles staged in shared memory as bf16, and
// keeps an online softmax per row in registers; both products (Q K^T and P V) run on tensor cores
// (mma.sync m16n8k16, bf16 in, fp32 accumulate). The key range of a tile of rows at positions p0..p1
// is max(0, p0-W+1)..p1, so a block's cost grows with min(position, W), never with the position.
//
// Rows, meta and caches as in attention.cu: meta[r*6..] = {position, segment start, segment's first row,
// segment length, cache capacity}, cacheBase[r] the sequence's cache (layer l's keys at element offset
// 2*l*cap*kvDim, values after them), position p in slot p mod W. Keys before the segment start come from
// the cache, the rest from the fresh k and v in their bf16 rounding (the cache's own, so chunked and
// one-pass prefill see the same keys). The fresh keys enter the cache afterwards (kv_store).
//
// As FlashAttention-2 overlaps its loads: the values of a key tile are copied (cp.async) while the
// scores of its keys are computed, the next tile's keys while the values are summed, so one buffer of
// each suffices. Fragments come from shared memory by ldmatrix (values transposed on the way).
//
// Roundings beyond attention.cu's: q and the softmax weights p enter the tensor cores as bf16.
#include "common.cuh"

/**
 * Copies rows t0 .. t0+BK-1 of one head's keys or values into a shared tile (row stride S): row j from the
 * cache (j < start) or from the fresh bf16 rows; rows past the tile's last key repeat that key (masked).
 */
template <int HD, int BK, int S>
__device__ __forceinline__ void stage(bf16_t* dst, const bf16_t* cache, const bf16_t* fresh, int t0, int last, int start, int off,
                                      int window, int kvDim, int kvOff) {
    constexpr int CH = HD / 8;
    for (int c = threadIdx.x; c < BK * CH; c += blockDim.x) {
        int i = c / CH, cc = c % CH, j = imin(t0 + i, last);
        const bf16_t* src = j < start ? cache + (long long) (j % window) * kvDim : fresh + (long long) (off + j - start) * kvDim;
        cp16(dst + i * S + 8 * cc, src + kvOff + 8 * cc);
    }
    cp_commit();
}

/**
 * grid (heads, tiles), 128 threads (4 warps, each 16 of the tile's rows); tiles[2t] = the tile's first
 * row, tiles[2t+1] its row count (<= 64), all of one segment; kb, vb: the fresh keys and values in bf16.
 * HD: the head size, a multiple of 16; BK: keys per shared-memory tile. A lane holds, in mma fragment
 * layout, rows g and g+8 of its warp (g = lane/4): the q fragments for the whole head, the scores of one
 * key tile and the output accumulators. Tiles are taken last first, so that the blocks with the most keys
 * start first.
 */
template <int HD, int BK, typename QT = float>
__device__ __forceinline__ void prefill_body(const QT* __restrict__ q, const bf16_t* __restrict__ kb, const bf16_t* __restrict__ vb,
                                             float* __restrict__ out, bf16_t* __restrict__ outb,
                                             const int* __restrict__ meta, const unsigned long long* __restrict__ cacheBase,
                                             const int* __restrict__ tiles, int layer, int heads, int kvHeads, int window, float scale) {
    constexpr int S = HD + 8;            // a shared row, padded so that a fragment's 8 rows fall in distinct banks
    constexpr int KSTEPS = HD / 16, NT = BK / 8, DT = HD / 8;
    __shared__ __align__(16) bf16_t ks[BK * S];
    __shared__ __align__(16) bf16_t vs[BK * S];
    int h = blockIdx.x, tile = gridDim.y - 1 - blockIdx.y;
    int first = tiles[2 * tile], n = tiles[2 * tile + 1];
    const int* m = meta + first * 6;
    int p0 = m[0], start = m[1], off = m[2], cap = m[4];
    int kvDim = kvHeads * HD, kvOff = (h / (heads / kvHeads)) * HD;
    const bf16_t* ck = (const bf16_t*) cacheBase[first] + (long long) (2 * layer) * cap * kvDim;
    const bf16_t* cv = ck + (long long) cap * kvDim;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    int last = p0 + n - 1, jlo = imax(0, p0 - window + 1);
    stage<HD, BK, S>(ks, ck, kb, jlo, last, start, off, window, kvDim, kvOff);
    // this lane's rows (clamped to the tile: rows past its end compute on, unstored) and their positions
    int ra = imin(16 * warp + g, n - 1), rb = imin(16 * warp + g + 8, n - 1);
    int pa = p0 + ra, pb = p0 + rb;
    int wlo = p0 + imin(16 * warp, n - 1), whi = p0 + imin(16 * warp + 15, n - 1);

    unsigned qf[KSTEPS][4];
    {
        const QT* qa = q + (long long) (first + ra) * heads * HD + (long long) h * HD + 2 * t;
        const QT* qb = q + (long long) (first + rb) * heads * HD + (long long) h * HD + 2 * t;
#pragma unroll
        for (int s = 0; s < KSTEPS; s++) {
            if constexpr (sizeof(QT) == 2) {   // q already in bf16 (qkv_rotary_bf16): the fragments as stored
                qf[s][0] = *(const unsigned*) (qa + 16 * s);
                qf[s][1] = *(const unsigned*) (qb + 16 * s);
                qf[s][2] = *(const unsigned*) (qa + 16 * s + 8);
                qf[s][3] = *(const unsigned*) (qb + 16 * s + 8);
            } else {
                float2 x0 = *(const float2*) (qa + 16 * s), x1 = *(const float2*) (qb + 16 * s);
                float2 x2 = *(const float2*) (qa + 16 * s + 8), x3 = *(const float2*) (qb + 16 * s + 8);
                qf[s][0] = pack_bf2(x0.x, x0.y);
                qf[s][1] = pack_bf2(x1.x, x1.y);
                qf[s][2] = pack_bf2(x2.x, x2.y);
                qf[s][3] = pack_bf2(x3.x, x3.y);
            }
        }
    }
    float o[DT][4];
#pragma unroll
    for (int d = 0; d < DT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
    float mA = NEG_INF, mB = NEG_INF, lA = 0.f, lB = 0.f;
    const float sl2 = scale * 1.4426950408889634f;   // exp(x * scale) = exp2(x * sl2)
    // ldmatrix row addresses of this lane: keys (matrix lane/8 = dims +8 each), values (matrix bit 0: keys +8, bit 1: dims +8)
    const bf16_t* kAddr = ks + (lane & 7) * S + 8 * (lane >> 3);
    const bf16_t* vAddr = vs + ((lane & 7) + 8 * ((lane >> 3) & 1)) * S + 8 * (lane >> 4);
    cp_wait_all();
    __syncthreads();

    for (int t0 = jlo; t0 <= last; t0 += BK) {
        stage<HD, BK, S>(vs, cv, vb, t0, last, start, off, window, kvDim, kvOff);   // the values, while the scores are computed
        bool live = !(t0 > whi || t0 + BK - 1 < wlo - window + 1);   // does any of this warp's rows see the tile?
        float sc[NT][4];
        if (live) {
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
#pragma unroll
                for (int s = 0; s + 1 < KSTEPS; s += 2) {
                    unsigned b[4];
                    ldm4(b, kAddr + nt * 8 * S + 16 * s);
                    mma16816(sc[nt], qf[s], b[0], b[1]);
                    mma16816(sc[nt], qf[s + 1], b[2], b[3]);
                }
                if (KSTEPS & 1) {
                    unsigned b[2];
                    ldm2(b, kAddr + nt * 8 * S + 16 * (KSTEPS - 1));
                    mma16816(sc[nt], qf[KSTEPS - 1], b[0], b[1]);
                }
            }
            // the window mask: row at position p sees keys p-W+1 .. p
            float mxA = NEG_INF, mxB = NEG_INF;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int j = t0 + nt * 8 + 2 * t + e;
                    if (j > pa || j <= pa - window) sc[nt][e] = NEG_INF;
                    if (j > pb || j <= pb - window) sc[nt][2 + e] = NEG_INF;
                    mxA = fmaxf(mxA, sc[nt][e]);
                    mxB = fmaxf(mxB, sc[nt][2 + e]);
                }
            mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 1));
            mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffffu, mxA, 2));
            mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 1));
            mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffffu, mxB, 2));
            float nA = fmaxf(mA, mxA), nB = fmaxf(mB, mxB);
            // a row that has seen no key yet keeps the maximum -inf: base 0, so that its weights are 0, not NaN
            float bA = nA == NEG_INF ? 0.f : nA * sl2, bB = nB == NEG_INF ? 0.f : nB * sl2;
            float cA = exp2f(mA * sl2 - bA), cB = exp2f(mB * sl2 - bB);
            mA = nA;
            mB = nB;
            lA *= cA;
            lB *= cB;
#pragma unroll
            for (int d = 0; d < DT; d++) { o[d][0] *= cA; o[d][1] *= cA; o[d][2] *= cB; o[d][3] *= cB; }
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                sc[nt][0] = exp2f(fmaf(sc[nt][0], sl2, -bA));
                sc[nt][1] = exp2f(fmaf(sc[nt][1], sl2, -bA));
                sc[nt][2] = exp2f(fmaf(sc[nt][2], sl2, -bB));
                sc[nt][3] = exp2f(fmaf(sc[nt][3], sl2, -bB));
                lA += sc[nt][0] + sc[nt][1];
                lB += sc[nt][2] + sc[nt][3];
            }
        }
        cp_wait_all();
        __syncthreads();                 // the values are in; every warp is done with the keys
        if (t0 + BK <= last) stage<HD, BK, S>(ks, ck, kb, t0 + BK, last, start, off, window, kvDim, kvOff);   // the next keys, while the values are summed
        if (live) {
            // P V: the scores' accumulator layout is the A fragment layout of the next product (keys as k)
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) {
                unsigned a[4] = {pack_bf2(sc[2 * kk][0], sc[2 * kk][1]), pack_bf2(sc[2 * kk][2], sc[2 * kk][3]),
                                 pack_bf2(sc[2 * kk + 1][0], sc[2 * kk + 1][1]), pack_bf2(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
                for (int d = 0; d < DT; d += 2) {
                    unsigned b[4];
                    ldm4t(b, vAddr + 16 * kk * S + 8 * d);
                    mma16816(o[d], a, b[0], b[1]);
                    mma16816(o[d + 1], a, b[2], b[3]);
                }
            }
        }
        cp_wait_all();
        __syncthreads();                 // the next keys are in; every warp is done with the values
    }
    lA += __shfl_xor_sync(0xffffffffu, lA, 1);
    lA += __shfl_xor_sync(0xffffffffu, lA, 2);
    lB += __shfl_xor_sync(0xffffffffu, lB, 1);
    lB += __shfl_xor_sync(0xffffffffu, lB, 2);
    float iA = lA > 0.f ? 1.f / lA : 0.f, iB = lB > 0.f ? 1.f / lB : 0.f;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int row = 16 * warp + g + 8 * half;
        if (row >= n) continue;
        long long at = (long long) (first + row) * heads * HD + (long long) h * HD + 2 * t;
        float inv = half == 0 ? iA : iB;
#pragma unroll
        for (int d = 0; d < DT; d++) {
            float x = o[d][2 * half] * inv, y = o[d][2 * half + 1] * inv;
            *(float2*) (out + at + 8 * d) = make_float2(x, y);
            *(unsigned*) (outb + at + 8 * d) = pack_bf2(x, y);
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) attention_prefill_hd32(const float* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<32, 64>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_hd64(const float* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<64, 64>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_hd80(const float* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<80, 64>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_hd96(const float* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<96, 64>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
// head size 128: three blocks an SM (168 registers, a few spilled; H200, 7B prefill at 8,192 tokens: 29,067 tok/s against
// 27,551 with as many registers as it takes and two blocks an SM)
extern "C" __global__ void __launch_bounds__(128, 3) attention_prefill_hd128(const float* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<128, 64>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_hd256(const float* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<256, 32>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}

// The same kernels reading q in bf16, already rotated (the fused prefill path, qkv_rotary_bf16: -Dmistralflink.cuda.fusedPrefill)
extern "C" __global__ void __launch_bounds__(128) attention_prefill_qb_hd32(const bf16_t* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<32, 64, bf16_t>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_qb_hd64(const bf16_t* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<64, 64, bf16_t>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_qb_hd80(const bf16_t* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<80, 64, bf16_t>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_qb_hd96(const bf16_t* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<96, 64, bf16_t>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128, 3) attention_prefill_qb_hd128(const bf16_t* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<128, 64, bf16_t>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_qb_hd256(const bf16_t* q, const bf16_t* kb, const bf16_t* vb, float* out,
        bf16_t* outb, const int* meta, const unsigned long long* cacheBase, const int* tiles, int layer, int heads, int kvHeads, int window, float scale) {
    prefill_body<256, 32, bf16_t>(q, kb, vb, out, outb, meta, cacheBase, tiles, layer, heads, kvHeads, window, scale);
}
