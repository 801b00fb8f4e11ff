// out[m][j] = sum_k x[m][k] * W[j][k] for few rows m: the memory-bound decode matmul. bf16 weights
// and bf16 inputs (the same rounding the cuBLAS path applies), fp32 accumulation. S warps share an
// output feature (each reads 1/S of its weight row with 16-byte loads, four in flight per lane), so
// that narrow matrices still put enough loads in flight; they combine in shared memory. Needs K % 8 == 0.
//
// Dense layers use it for one row (a single sequence's decode step): from two rows on, cuBLAS with K
// split in slices is faster (H200, 7B shape: batch 2 419 tok/s against 374 here, batch 8 1,547 against
// 648). Two fusions save launches and put more loads in flight per launch: gemv1 runs up to three
// matrices over the same input (attention's q, k and v projections), swiglu1 runs SwiGLU's gate and up
// projections side by side and writes silu(gate) * up. moe_gemv* is the grouped form for Mixtral's
// experts, up to 8 rows an expert: each expert's weights over the rows routed to it.
#include "common.cuh"

__device__ __forceinline__ float dot8(uint4 w, uint4 x, float a) {
    a = fmaf(lo16(w.x), lo16(x.x), a); a = fmaf(hi16(w.x), hi16(x.x), a);
    a = fmaf(lo16(w.y), lo16(x.y), a); a = fmaf(hi16(w.y), hi16(x.y), a);
    a = fmaf(lo16(w.z), lo16(x.z), a); a = fmaf(hi16(w.z), hi16(x.z), a);
    a = fmaf(lo16(w.w), lo16(x.w), a); a = fmaf(hi16(w.w), hi16(x.w), a);
    return a;
}

/** This lane's share of row j of W (16-byte chunks [cBeg, cEnd) strided by 32 lanes) dotted with each x row. */
template <int MAXM>
__device__ __forceinline__ void dot_row(const bf16_t* __restrict__ W, const bf16_t* __restrict__ x, int j, int K, int M,
                                        int cBeg, int cEnd, int lane, float* acc) {
    const uint4* wr = (const uint4*) (W + (long long) j * K);
    const uint4* xr = (const uint4*) x;
    int xs = K >> 3;   // uint4 per x row
    int c = cBeg + lane;
    for (; c + 96 < cEnd; c += 128) {
        uint4 w0 = __ldg(wr + c), w1 = __ldg(wr + c + 32), w2 = __ldg(wr + c + 64), w3 = __ldg(wr + c + 96);
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                const uint4* xm = xr + (long long) m * xs;
                float a = acc[m];
                a = dot8(w0, __ldg(xm + c), a);
                a = dot8(w1, __ldg(xm + c + 32), a);
                a = dot8(w2, __ldg(xm + c + 64), a);
                a = dot8(w3, __ldg(xm + c + 96), a);
                acc[m] = a;
            }
        }
    }
#pragma unroll (MAXM <= 2 ? 4 : 1)   // few rows: more weight loads in flight (many rows: registers)
    for (; c < cEnd; c += 32) {
        uint4 w0 = __ldg(wr + c);
#pragma unroll
        for (int m = 0; m < MAXM; m++)
            if (m < M) acc[m] = dot8(w0, __ldg(xr + (long long) m * xs + c), acc[m]);
    }
}

/** Warp sums of acc into red[warp][m]. */
template <int MAXM>
__device__ __forceinline__ void warp_partials(float* acc, float (*red)[MAXM], int M, int warp, int lane) {
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        if (m < M) {
            float a = warp_sum(acc[m]);
            if (lane == 0) red[warp][m] = a;
        }
    }
}

/** Block b's share of out = x W^T: block of 256 threads = 8 warps = 8/S output features of W (N features), M rows. */
template <int MAXM>
__device__ __forceinline__ void gemv_block(const bf16_t* __restrict__ W, const bf16_t* __restrict__ x, float* __restrict__ out,
                                           int N, int K, int M, int S, int b) {
    __shared__ float red[8][MAXM];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int perBlock = 8 / S, jl = warp / S, part = warp % S;
    int j = b * perBlock + jl;
    int chunks = K >> 3, per = (chunks + S - 1) / S;
    int cBeg = part * per, cEnd = imin(chunks, cBeg + per);
    float acc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) acc[m] = 0.f;
    if (j < N) dot_row<MAXM>(W, x, j, K, M, cBeg, cEnd, lane, acc);
    warp_partials<MAXM>(acc, red, M, warp, lane);
    __syncthreads();
    if (part == 0 && lane == 0 && j < N) {
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                float a = 0.f;
                for (int p = 0; p < S; p++) a += red[jl * S + p][m];
                out[(long long) m * N + j] = a;
            }
        }
    }
}

/** Up to three matrices over one input: blocks [0, B0) cover W0 (N0 features), the next B1 blocks W1, the rest W2 (Bi = ceil(Ni / (8/S))). */
template <int MAXM>
__device__ __forceinline__ void gemv_body(const bf16_t* W0, const bf16_t* W1, const bf16_t* W2,
                                          float* o0, float* o1, float* o2, int N0, int N1, int N2,
                                          const bf16_t* __restrict__ x, int K, int M, int S) {
    int perBlock = 8 / S, b = blockIdx.x, b0 = (N0 + perBlock - 1) / perBlock, b1 = (N1 + perBlock - 1) / perBlock;
    // Three calls, not one over selected pointers: that form ran 11% slower on an H200 (ncu, batch 1).
    if (b < b0) gemv_block<MAXM>(W0, x, o0, N0, K, M, S, b);
    else if (b < b0 + b1) gemv_block<MAXM>(W1, x, o1, N1, K, M, S, b - b0);
    else gemv_block<MAXM>(W2, x, o2, N2, K, M, S, b - b0 - b1);
}

extern "C" __global__ void gemv1(const bf16_t* W0, const bf16_t* W1, const bf16_t* W2, float* o0, float* o1, float* o2,
                               int N0, int N1, int N2, const bf16_t* x, int K, int M, int S) {
    gemv_body<1>(W0, W1, W2, o0, o1, o2, N0, N1, N2, x, K, M, S);
}

/**
 * out = silu(Wg x) * (Wu x), also rounded to bf16 into outb (the next matmul's input). Block of 256
 * threads: warps 0-3 compute the gate features, warps 4-7 the up features of the same 4/S outputs.
 * Each output equals what gemv* with the same S and silu_mul give.
 */
template <int MAXM>
__device__ __forceinline__ void swiglu_body(const bf16_t* __restrict__ Wg, const bf16_t* __restrict__ Wu,
                                            const bf16_t* __restrict__ x, float* __restrict__ out,
                                            bf16_t* __restrict__ outb, int N, int K, int M, int S) {
    __shared__ float red[8][MAXM];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int perBlock = 4 / S, half = warp >> 2, w4 = warp & 3, jl = w4 / S, part = w4 % S;
    int j = blockIdx.x * perBlock + jl;
    int chunks = K >> 3, per = (chunks + S - 1) / S;
    int cBeg = part * per, cEnd = imin(chunks, cBeg + per);
    float acc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) acc[m] = 0.f;
    if (j < N) dot_row<MAXM>(half ? Wu : Wg, x, j, K, M, cBeg, cEnd, lane, acc);
    warp_partials<MAXM>(acc, red, M, warp, lane);
    __syncthreads();
    int t = threadIdx.x, jt = t / MAXM, m = t % MAXM, jo = blockIdx.x * perBlock + jt;
    if (jt < perBlock && m < M && jo < N) {
        float g = 0.f, u = 0.f;
        for (int p = 0; p < S; p++) { g += red[jt * S + p][m]; u += red[4 + jt * S + p][m]; }
        float o = silu_times(g, u);
        out[(long long) m * N + jo] = o;
        outb[(long long) m * N + jo] = f2bf(o);
    }
}

extern "C" __global__ void swiglu1(const bf16_t* Wg, const bf16_t* Wu, const bf16_t* x, float* out, bf16_t* outb,
                                 int N, int K, int M, int S) {
    swiglu_body<1>(Wg, Wu, x, out, outb, N, K, M, S);
}


/**
 * Mixtral's grouped GEMV: grid (output-feature blocks, experts). Block (b, e) multiplies expert e's
 * (row, expert) pairs [offsets[e], offsets[e+1]) by W[e] (ws: the experts' device pointers), MAXM
 * rows at a time; an expert without pairs returns at once, so its weights are never read.
 */
template <int MAXM>
__device__ __forceinline__ void moe_gemv_body(const unsigned long long* __restrict__ ws, const int* __restrict__ offsets,
                                              const bf16_t* __restrict__ x, float* __restrict__ out, int N, int K, int S) {
    int e = blockIdx.y;
    int from = offsets[e], count = offsets[e + 1] - from;
    if (count <= 0) return;
    const bf16_t* W = (const bf16_t*) ws[e];
    for (int m0 = 0; m0 < count; m0 += MAXM) {
        long long row = from + m0;
        gemv_block<MAXM>(W, x + row * K, out + row * N, N, K, imin(MAXM, count - m0), S, blockIdx.x);
        __syncthreads();   // the next chunk reuses the block's shared partial sums
    }
}

extern "C" __global__ void moe_gemv1(const unsigned long long* ws, const int* offsets, const bf16_t* x, float* out, int N, int K, int S) { moe_gemv_body<1>(ws, offsets, x, out, N, K, S); }
extern "C" __global__ void moe_gemv2(const unsigned long long* ws, const int* offsets, const bf16_t* x, float* out, int N, int K, int S) { moe_gemv_body<2>(ws, offsets, x, out, N, K, S); }
extern "C" __global__ void moe_gemv4(const unsigned long long* ws, const int* offsets, const bf16_t* x, float* out, int N, int K, int S) { moe_gemv_body<4>(ws, offsets, x, out, N, K, S); }
extern "C" __global__ void moe_gemv8(const unsigned long long* ws, const int* offsets, const bf16_t* x, float* out, int N, int K, int S) { moe_gemv_body<8>(ws, offsets, x, out, N, K, S); }

// ---------------------------------------------------------------------------------------------------------
// Few rows on tensor cores (decode batches of 1-32 rows): out[m][j] = sum_k x[m][k] W[j][k], bf16 in, fp32
// accumulate. The mma.sync m16n8k16 takes 16 output features as its 16-row operand and up to 8 rows of x as its
// 8 columns (the batch is the narrow side), so the weights stream once whatever the batch up to 32, with 16-byte
// loads straight into the fragments: K goes in chunks of 32, and lane (g = lane / 4, q = lane % 4) loads elements
// 8q..8q+7 of the chunk from feature rows g and g + 8 and from x row g, and feeds them as its k slots of two
// k-steps (elements 0-1 and 2-3 the first, 4-5 and 6-7 the second). A and B permute k alike, so the sum is the
// same. The SG_WARPS warps of a block take a tile's chunks in turn, U chunks' loads in flight each, and sum in
// shared memory. Needs K % 32 == 0. NT: groups of 8 rows (M <= 8 NT); AT: tiles of 16 features a block.
#define SG_WARPS 8

/** 16 bytes of a weight row: read once, so kept out of L1 (where x, read by every block, stays). */
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

/** A group's loads: U chunks (c0, c0 + SG_WARPS, ...) of the tiles' feature rows and of x's rows (none past the last chunk). */
template <int NT, int AT, int U>
__device__ __forceinline__ void small_gemm_load(const uint4* const (&wr)[2 * AT], const uint4* const (&xr)[NT], int c0, int chunks,
                                                uint4 (&w)[U][2 * AT], uint4 (&xv)[U][NT]) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        int c = c0 + u * SG_WARPS;
        if (c < chunks) {
#pragma unroll
            for (int i = 0; i < 2 * AT; i++) w[u][i] = ld_stream(wr[i] + 4 * c);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) xv[u][nt] = __ldg(xr[nt] + 4 * c);
        }
    }
}

/**
 * acc[a][nt] += the tile a (rows[2a]: feature row g, rows[2a+1]: row g + 8, this lane's) times x rows nt*8.. . Software
 * pipelined: a group's loads (weights and x) are issued before the previous group's products, so a warp always has
 * a group in flight (without it, call 1 of session 7: a warp waited for each group, then for x, with nothing in flight).
 */
template <int NT, int AT, int U>
__device__ __forceinline__ void small_gemm_acc(const bf16_t* const (&rows)[2 * AT], const bf16_t* __restrict__ x, int K, int M,
                                               float (&acc)[AT][NT][4]) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const uint4* wr[2 * AT];
#pragma unroll
    for (int i = 0; i < 2 * AT; i++) wr[i] = (const uint4*) rows[i] + q;
    const uint4* xr[NT];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) xr[nt] = (const uint4*) (x + (long long) imin(nt * 8 + g, M - 1) * K) + q;
    const int chunks = K >> 5, step = SG_WARPS * U;
    uint4 w[U][2 * AT], xv[U][NT];
    small_gemm_load<NT, AT, U>(wr, xr, warp, chunks, w, xv);
    for (int c0 = warp; c0 < chunks; c0 += step) {
        uint4 wn[U][2 * AT], xn[U][NT];
        small_gemm_load<NT, AT, U>(wr, xr, c0 + step, chunks, wn, xn);
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (c0 + u * SG_WARPS < chunks) {
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                    for (int a = 0; a < AT; a++) {
                        const uint4 r0 = w[u][2 * a], r1 = w[u][2 * a + 1];
                        const unsigned k0[4] = {r0.x, r1.x, r0.y, r1.y}, k1[4] = {r0.z, r1.z, r0.w, r1.w};
                        mma16816(acc[a][nt], k0, xv[u][nt].x, xv[u][nt].y);
                        mma16816(acc[a][nt], k1, xv[u][nt].z, xv[u][nt].w);
                    }
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
#pragma unroll
            for (int i = 0; i < 2 * AT; i++) w[u][i] = wn[u][i];
#pragma unroll
            for (int nt = 0; nt < NT; nt++) xv[u][nt] = xn[u][nt];
        }
    }
}

/** Every warp's accumulators into red ([warp][a][nt][lane][4]); after it, entry e's sum over warps is red_sum(red, e, E). */
template <int NT, int AT>
__device__ __forceinline__ void small_gemm_reduce(const float (&acc)[AT][NT][4], float* red) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int a = 0; a < AT; a++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
            *(float4*) &red[((warp * AT + a) * NT + nt) * 128 + lane * 4] = make_float4(acc[a][nt][0], acc[a][nt][1], acc[a][nt][2], acc[a][nt][3]);
    __syncthreads();
}

__device__ __forceinline__ float red_sum(const float* red, int e, int E) {
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < SG_WARPS; w++) s += red[w * E + e];
    return s;
}

/** Entry e of a 16 x 8 accumulator group (lane e/4, register e%4): its feature (in the tile) and row (in the group). */
__device__ __forceinline__ int entry_feature(int e) { return ((e >> 2) & 31) / 4 + 8 * ((e & 3) >> 1); }
__device__ __forceinline__ int entry_row(int e) { return 2 * (((e >> 2) & 31) & 3) + (e & 1); }

/**
 * out = x W^T for M <= 8 NT rows; W holds N0 + N1 + N2 features (q, k and v side by side, or one matrix with
 * N1 = N2 = 0), whose outputs go to o0, o1, o2. Block: AT tiles of 16 features.
 */
template <int NT, int AT, int U>
__device__ __forceinline__ void gemm_small_body(const bf16_t* __restrict__ W, const bf16_t* __restrict__ x, float* o0, float* o1, float* o2,
                                                int N0, int N1, int N2, int K, int M) {
    __shared__ __align__(16) float red[SG_WARPS * AT * NT * 128];
    int N = N0 + N1 + N2, f0 = blockIdx.x * 16 * AT, g = (threadIdx.x & 31) >> 2;
    const bf16_t* rows[2 * AT];
#pragma unroll
    for (int a = 0; a < AT; a++) {
        rows[2 * a] = W + (long long) imin(f0 + 16 * a + g, N - 1) * K;
        rows[2 * a + 1] = W + (long long) imin(f0 + 16 * a + g + 8, N - 1) * K;
    }
    float acc[AT][NT][4] = {};
    small_gemm_acc<NT, AT, U>(rows, x, K, M, acc);
    small_gemm_reduce<NT, AT>(acc, red);
    const int E = AT * NT * 128;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int a = e / (NT * 128), nt = (e >> 7) % NT;
        int f = f0 + 16 * a + entry_feature(e), m = nt * 8 + entry_row(e);
        if (f >= N || m >= M) continue;
        float s = red_sum(red, e, E);
        if (f < N0) o0[(long long) m * N0 + f] = s;
        else if (f < N0 + N1) o1[(long long) m * N1 + f - N0] = s;
        else o2[(long long) m * N2 + f - N0 - N1] = s;
    }
}

extern "C" __global__ void __launch_bounds__(256) gemm_small8(const bf16_t* W, const bf16_t* x, float* o0, float* o1, float* o2,
                                                              int N0, int N1, int N2, int K, int M) {
    gemm_small_body<1, 1, 4>(W, x, o0, o1, o2, N0, N1, N2, K, M);
}
extern "C" __global__ void __launch_bounds__(256) gemm_small16(const bf16_t* W, const bf16_t* x, float* o0, float* o1, float* o2,
                                                               int N0, int N1, int N2, int K, int M) {
    gemm_small_body<2, 1, 2>(W, x, o0, o1, o2, N0, N1, N2, K, M);
}
extern "C" __global__ void __launch_bounds__(256) gemm_small32(const bf16_t* W, const bf16_t* x, float* o0, float* o1, float* o2,
                                                               int N0, int N1, int N2, int K, int M) {
    gemm_small_body<4, 2, 1>(W, x, o0, o1, o2, N0, N1, N2, K, M);
}
/** 17-32 rows, 16 features a block (twice the blocks of gemm_small32, which reads x half as often): the A/B of mmaGemmWide. */
extern "C" __global__ void __launch_bounds__(256) gemm_small32n(const bf16_t* W, const bf16_t* x, float* o0, float* o1, float* o2,
                                                                int N0, int N1, int N2, int K, int M) {
    gemm_small_body<4, 1, 2>(W, x, o0, o1, o2, N0, N1, N2, K, M);
}

/** out = silu(x Wg^T) * (x Wu^T), also rounded to bf16 into outb, for M <= 8 NT rows: a block's two tiles are 16 gate and the same 16 up features. */
template <int NT, int U>
__device__ __forceinline__ void swiglu_small_body(const bf16_t* __restrict__ Wg, const bf16_t* __restrict__ Wu, const bf16_t* __restrict__ x,
                                                  float* __restrict__ out, bf16_t* __restrict__ outb, int N, int K, int M) {
    __shared__ __align__(16) float red[SG_WARPS * 2 * NT * 128];
    int f0 = blockIdx.x * 16, g = (threadIdx.x & 31) >> 2;
    long long r0 = (long long) imin(f0 + g, N - 1) * K, r1 = (long long) imin(f0 + g + 8, N - 1) * K;
    const bf16_t* rows[4] = {Wg + r0, Wg + r1, Wu + r0, Wu + r1};
    float acc[2][NT][4] = {};
    small_gemm_acc<NT, 2, U>(rows, x, K, M, acc);
    small_gemm_reduce<NT, 2>(acc, red);
    const int H = NT * 128, E = 2 * H;
    for (int e = threadIdx.x; e < H; e += blockDim.x) {
        int f = f0 + entry_feature(e), m = (e >> 7) * 8 + entry_row(e);
        if (f >= N || m >= M) continue;
        float o = silu_times(red_sum(red, e, E), red_sum(red, e + H, E));
        out[(long long) m * N + f] = o;
        outb[(long long) m * N + f] = f2bf(o);
    }
}

extern "C" __global__ void __launch_bounds__(256) swiglu_small8(const bf16_t* Wg, const bf16_t* Wu, const bf16_t* x, float* out, bf16_t* outb,
                                                                int N, int K, int M) {
    swiglu_small_body<1, 2>(Wg, Wu, x, out, outb, N, K, M);
}
extern "C" __global__ void __launch_bounds__(256) swiglu_small16(const bf16_t* Wg, const bf16_t* Wu, const bf16_t* x, float* out, bf16_t* outb,
                                                                 int N, int K, int M) {
    swiglu_small_body<2, 1>(Wg, Wu, x, out, outb, N, K, M);
}
extern "C" __global__ void __launch_bounds__(256) swiglu_small32(const bf16_t* Wg, const bf16_t* Wu, const bf16_t* x, float* out, bf16_t* outb,
                                                                 int N, int K, int M) {
    swiglu_small_body<4, 1>(Wg, Wu, x, out, outb, N, K, M);
}
