// out[m][j] = sum_k x[m][k] * W[j][k] for a few rows m: the memory-bound decode matmul. bf16 weights
// and bf16 inputs (the same rounding the cuBLAS path applies), fp32 accumulation. A warp per output
// feature reads its weight row once with 16-byte loads and serves every input row. Needs K % 8 == 0.
#include "common.cuh"

template <int MAXM>
__device__ __forceinline__ void gemv_body(const bf16_t* __restrict__ W, const bf16_t* __restrict__ x,
                                          float* __restrict__ out, int N, int K, int M) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int j = blockIdx.x * (blockDim.x >> 5) + warp;
    if (j >= N) return;
    const uint4* wr = (const uint4*) (W + (long long) j * K);
    int chunks = K >> 3;
    float acc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) acc[m] = 0.f;
#pragma unroll 4
    for (int c = lane; c < chunks; c += 32) {
        uint4 w = __ldg(wr + c);
        float wf[8];
        wf[0] = __uint_as_float(w.x << 16); wf[1] = __uint_as_float(w.x & 0xffff0000u);
        wf[2] = __uint_as_float(w.y << 16); wf[3] = __uint_as_float(w.y & 0xffff0000u);
        wf[4] = __uint_as_float(w.z << 16); wf[5] = __uint_as_float(w.z & 0xffff0000u);
        wf[6] = __uint_as_float(w.w << 16); wf[7] = __uint_as_float(w.w & 0xffff0000u);
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            if (m < M) {
                uint4 xv = __ldg((const uint4*) (x + (long long) m * K) + c);
                float a = acc[m];
                a = fmaf(wf[0], __uint_as_float(xv.x << 16), a); a = fmaf(wf[1], __uint_as_float(xv.x & 0xffff0000u), a);
                a = fmaf(wf[2], __uint_as_float(xv.y << 16), a); a = fmaf(wf[3], __uint_as_float(xv.y & 0xffff0000u), a);
                a = fmaf(wf[4], __uint_as_float(xv.z << 16), a); a = fmaf(wf[5], __uint_as_float(xv.z & 0xffff0000u), a);
                a = fmaf(wf[6], __uint_as_float(xv.w << 16), a); a = fmaf(wf[7], __uint_as_float(xv.w & 0xffff0000u), a);
                acc[m] = a;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        if (m < M) {
            float a = warp_sum(acc[m]);
            if (lane == 0) out[(long long) m * N + j] = a;
        }
    }
}

extern "C" __global__ void gemv1(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M) { gemv_body<1>(W, x, out, N, K, M); }
extern "C" __global__ void gemv2(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M) { gemv_body<2>(W, x, out, N, K, M); }
extern "C" __global__ void gemv4(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M) { gemv_body<4>(W, x, out, N, K, M); }
extern "C" __global__ void gemv8(const bf16_t* W, const bf16_t* x, float* out, int N, int K, int M) { gemv_body<8>(W, x, out, N, K, M); }
