// out[m][j] = sum_k x[m][k] * W[j][k] for a few rows m: the memory-bound decode matmul. bf16 weights
// and bf16 inputs (the same rounding the cuBLAS path applies), fp32 accumulation. S warps share an
// output feature (each reads 1/S of its weight row with 16-byte loads, four in flight per lane), so
// that narrow matrices still put enough loads in flight; they combine in shared memory. Needs K % 8 == 0.
#include "common.cuh"

__device__ __forceinline__ float dot8(uint4 w, uint4 x, float a) {
    a = fmaf(lo16(w.x), lo16(x.x), a); a = fmaf(hi16(w.x), hi16(x.x), a);
    a = fmaf(lo16(w.y), lo16(x.y), a); a = fmaf(hi16(w.y), hi16(x.y), a);
    a = fmaf(lo16(w.z), lo16(x.z), a); a = fmaf(hi16(w.z), hi16(x.z), a);
    a = fmaf(lo16(w.w), lo16(x.w), a); a = fmaf(hi16(w.w), hi16(x.w), a);
    return a;
}

/** Block of 256 threads = 8 warps = 8/S output features. */
template <int MAXM>
__device__ __forceinline__ void gemv_body(const bf16_t* __restrict__ W, const bf16_t* __restrict__ x,
                                          float* __restrict__ out, int N, int K, int M, int S) {
    __shared__ float red[8][MAXM];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int perBlock = 8 / S, jl = warp / S, part = warp % S;
    int j = blockIdx.x * perBlock + jl;
    int chunks = K >> 3, per = (chunks + S - 1) / S;
    int cBeg = part * per, cEnd = imin(chunks, cBeg + per);
    float acc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) acc[m] = 0.f;
    if (j < N) {
        const uint4* wr = (const uint4*) (W + (long long) j * K);
        const uint4* xr = (const uint4*) x;
        int xs = chunks;   // uint4 per x row
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
        for (; c < cEnd; c += 32) {
            uint4 w0 = __ldg(wr + c);
#pragma unroll
            for (int m = 0; m < MAXM; m++)
                if (m < M) acc[m] = dot8(w0, __ldg(xr + (long long) m * xs + c), acc[m]);
        }
    }
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        if (m < M) {
            float a = warp_sum(acc[m]);
            if (lane == 0) red[warp][m] = a;
        }
    }
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

extern "C" __global__ void gemv1(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M, int S) { gemv_body<1>(W, x, out, N, K, M, S); }
extern "C" __global__ void gemv2(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M, int S) { gemv_body<2>(W, x, out, N, K, M, S); }
extern "C" __global__ void gemv4(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M, int S) { gemv_body<4>(W, x, out, N, K, M, S); }
extern "C" __global__ void gemv8(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M, int S) { gemv_body<8>(W, x, out, N, K, M, S); }
