// Mixture of experts, grouped (MegaBlocks style), with the routing kept on the device: route (top-k,
// softmax over the k, pairs grouped by expert), dispatch (rows copied into their pairs), combine
// (weighted sum of a row's pairs in expert order). The experts' grouped GEMV is moe_gemv* in gemv.cu.
// A routing is one int buffer: offsets[E+1] | pairRow[P] | rowPairs[P] | rowExp[P] and one float
// buffer: pairWeight[P] | rowW[P], P = rows * K pairs (see CudaBackend.route).
#include "common.cuh"

#define MOE_MAXK 8

/** Exclusive prefix sum over the block (blockDim.x a multiple of 32); warpTot: >= 32 ints of shared memory. */
__device__ __forceinline__ int block_exclusive_scan(int v, int* warpTot) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int inc = v;
    for (int o = 1; o < 32; o <<= 1) {
        int n = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += n;
    }
    if (lane == 31) warpTot[warp] = inc;
    __syncthreads();
    if (warp == 0) {
        int s = lane < warps ? warpTot[lane] : 0;
        for (int o = 1; o < 32; o <<= 1) {
            int n = __shfl_up_sync(0xffffffffu, s, o);
            if (lane >= o) s += n;
        }
        if (lane < warps) warpTot[lane] = s;
    }
    __syncthreads();
    return (warp > 0 ? warpTot[warp - 1] : 0) + inc - v;
}

/**
 * The routing of rows x E router logits, top K (K <= MOE_MAXK, E <= 64). One block of T threads (a
 * multiple of 32); thread t owns a contiguous range of rows, so numbering pairs by (expert, thread,
 * row) numbers them grouped by expert, rows ascending: deterministic, whatever the timing.
 * Dynamic shared memory: E * T ints (per expert and thread, a count, then the next free pair).
 */
extern "C" __global__ void moe_route(const float* __restrict__ logits, int rows, int E, int K,
                                     int* __restrict__ offsets, int* __restrict__ pairRow, int* __restrict__ rowPairs,
                                     int* __restrict__ rowExp, float* __restrict__ pairWeight, float* __restrict__ rowW) {
    extern __shared__ int cnt[];   // [E][T]
    __shared__ int warpTot[32];
    int t = threadIdx.x, T = blockDim.x;
    int per = (rows + T - 1) / T;
    int r0 = imin(rows, t * per), r1 = imin(rows, r0 + per);
    for (int e = 0; e < E; e++) cnt[e * T + t] = 0;
    for (int r = r0; r < r1; r++) {
        const float* l = logits + (long long) r * E;
        unsigned long long taken = 0ull;
        int ex[MOE_MAXK];
        float lv[MOE_MAXK], w[MOE_MAXK];
        for (int i = 0; i < K; i++) {
            int best = -1;
            float bv = 0.f;
            for (int e = 0; e < E; e++) {
                if ((taken >> e) & 1ull) continue;
                float v = l[e];
                if (best < 0 || v > bv) { best = e; bv = v; }   // strict: ties go to the lower expert
            }
            taken |= 1ull << best;
            ex[i] = best;
            lv[i] = bv;
        }
        float sum = 0.f;
        for (int i = 0; i < K; i++) { w[i] = expf(lv[i] - lv[0]); sum += w[i]; }
        for (int i = 0; i < K; i++) w[i] = w[i] / sum;
        // the row's experts in ascending order (insertion sort of K), with their weights
        for (int i = 1; i < K; i++) {
            int e = ex[i];
            float wv = w[i];
            int j = i;
            while (j > 0 && ex[j - 1] > e) { ex[j] = ex[j - 1]; w[j] = w[j - 1]; j--; }
            ex[j] = e;
            w[j] = wv;
        }
        for (int i = 0; i < K; i++) {
            rowExp[(long long) r * K + i] = ex[i];
            rowW[(long long) r * K + i] = w[i];
            cnt[ex[i] * T + t]++;
        }
    }
    __syncthreads();
    // Exclusive scan of cnt in its expert-major order: thread t scans its E entries [t*E, t*E + E).
    int local = 0;
    for (int i = 0; i < E; i++) local += cnt[t * E + i];
    int run = block_exclusive_scan(local, warpTot);
    for (int i = 0; i < E; i++) { int c = cnt[t * E + i]; cnt[t * E + i] = run; run += c; }
    __syncthreads();
    for (int e = t; e < E; e += T) offsets[e] = cnt[e * T];
    if (t == 0) offsets[E] = rows * K;
    for (int r = r0; r < r1; r++) {
        for (int i = 0; i < K; i++) {
            long long at = (long long) r * K + i;
            int e = rowExp[at];
            int p = cnt[e * T + t]++;
            pairRow[p] = r;
            pairWeight[p] = rowW[at];
            rowPairs[at] = p;
        }
    }
}

/** out[p] = x[pairRow[p]], in fp32 and its bf16 rounding (the grouped matmul's input). One block per pair. */
extern "C" __global__ void moe_dispatch(const float* __restrict__ x, const int* __restrict__ pairRow,
                                        float* __restrict__ out, bf16_t* __restrict__ outb, int cols) {
    long long p = blockIdx.x;
    const float* src = x + (long long) pairRow[p] * cols;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float v = src[j];
        out[p * cols + j] = v;
        outb[p * cols + j] = f2bf(v);
    }
}

/**
 * out[r] = sum over row r's K pairs (in expert order) of pairWeight[p] * y[p], each product and sum
 * rounded on its own (no fused multiply-add), as the CPU computes it. One block per row.
 */
extern "C" __global__ void moe_combine(const float* __restrict__ y, const int* __restrict__ rowPairs,
                                       const float* __restrict__ pairWeight, float* __restrict__ out, int cols, int K) {
    long long r = blockIdx.x;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float acc = 0.f;
        for (int i = 0; i < K; i++) {
            int p = rowPairs[r * K + i];
            acc = __fadd_rn(acc, __fmul_rn(pairWeight[p], y[(long long) p * cols + j]));
        }
        out[r * cols + j] = acc;
    }
}
