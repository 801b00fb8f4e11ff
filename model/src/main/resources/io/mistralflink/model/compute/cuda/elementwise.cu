// Row-wise and element-wise kernels: embedding, RMSNorm, rotary, SwiGLU, residual add, bf16
// conversion, row gather. (Sampling, greedy included, is in sampling.cu.)
#include "common.cuh"

/** out[r] = table[ids[r]] (bf16 table, fp32 rows). One block per row. */
extern "C" __global__ void embed(const bf16_t* __restrict__ table, const int* __restrict__ ids,
                                 float* __restrict__ out, int dim) {
    int r = blockIdx.x;
    const bf16_t* row = table + (long long) ids[r] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(long long) r * dim + i] = bf2f(row[i]);
}

// RMSNorm is latency-bound at decode (one row per block, about 6 us as a loop: two dependent rounds of
// loads): each thread keeps its values and gains in registers, all loaded at once, so the row waits for
// memory once. Block size: about 4 values per thread (CudaBackend.rmsThreads); a row holds at most
// RMS_VPT values per thread.
#define RMS_VPT 12

/** out = (acc [+ x, stored back into acc]) / rms * gain, in fp32 (unless out is null: bf16 alone) and bf16: the block's row. */
template <bool ADD>
__device__ __forceinline__ void rms_row(float* __restrict__ acc, const float* __restrict__ x, const float* __restrict__ gain,
                                        float* __restrict__ out, bf16_t* __restrict__ outb, int dim, float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * dim;
    int t = threadIdx.x, nt = blockDim.x;
    float v[RMS_VPT], g[RMS_VPT], ss = 0.f;
#pragma unroll
    for (int j = 0; j < RMS_VPT; j++) {
        int i = t + j * nt;
        v[j] = 0.f;
        g[j] = 0.f;
        if (i < dim) {
            v[j] = ADD ? acc[base + i] + x[base + i] : acc[base + i];
            g[j] = gain[i];
        }
    }
#pragma unroll
    for (int j = 0; j < RMS_VPT; j++) {
        ss = fmaf(v[j], v[j], ss);
        if (ADD && t + j * nt < dim) acc[base + t + j * nt] = v[j];
    }
    ss = block_sum(ss, scratch);
    float scale = 1.0f / sqrtf(ss / dim + eps);
#pragma unroll
    for (int j = 0; j < RMS_VPT; j++) {
        int i = t + j * nt;
        if (i < dim) {
            float o = g[j] * (v[j] * scale);
            if (out) out[base + i] = o;
            outb[base + i] = f2bf(o);
        }
    }
}

/** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * gain, in fp32, plus its bf16 rounding. One block per row. */
extern "C" __global__ void __launch_bounds__(1024) rms_norm(const float* x, const float* gain, float* out, bf16_t* outb, int dim, float eps) {
    rms_row<false>((float*) x, nullptr, gain, out, outb, dim, eps);
}

/** acc += x, then out = rms_norm(acc) * gain (and its bf16 rounding): the residual add and the next norm in one pass. */
extern "C" __global__ void __launch_bounds__(1024) add_rms_norm(float* acc, const float* x, const float* gain, float* out, bf16_t* outb, int dim, float eps) {
    rms_row<true>(acc, x, gain, out, outb, dim, eps);
}

// Many rows (prefill, -Dmistralflink.cuda.rowsRmsNorm): at 2,048 rows of 4,096 the kernels above take 79 us, about 1.8 TB/s
// (a block of 1,024 threads, four values each, two blocks an SM: while both wait at the block sum nothing loads). Here a
// row's block has dim / 16 threads (256 at 4,096: eight blocks an SM), each loading its four float4s of the row at once.
// The sum of squares is added in another order than rms_row's, so the outputs may differ from its in the last bit.
#define RMS_V4 4

/** As rms_row, by float4s: dim a multiple of 4, every pointer 16-byte aligned, dim <= 16 x blockDim.x. */
template <bool ADD>
__device__ __forceinline__ void rms_row4(float* __restrict__ acc, const float* __restrict__ x, const float* __restrict__ gain,
                                         float* __restrict__ out, bf16_t* __restrict__ outb, int dim, float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * dim;
    int t = threadIdx.x, nt = blockDim.x, n4 = dim >> 2;
    float4* a4 = (float4*) (acc + base);
    float4 v[RMS_V4];
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < RMS_V4; j++) {
        int i = t + j * nt;
        v[j] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (i < n4) {
            v[j] = a4[i];
            if (ADD) {
                float4 d = ((const float4*) (x + base))[i];
                v[j].x += d.x; v[j].y += d.y; v[j].z += d.z; v[j].w += d.w;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < RMS_V4; j++) {
        ss = fmaf(v[j].x, v[j].x, ss);
        ss = fmaf(v[j].y, v[j].y, ss);
        ss = fmaf(v[j].z, v[j].z, ss);
        ss = fmaf(v[j].w, v[j].w, ss);
        if (ADD && t + j * nt < n4) a4[t + j * nt] = v[j];
    }
    ss = block_sum(ss, scratch);
    float scale = 1.0f / sqrtf(ss / dim + eps);
#pragma unroll
    for (int j = 0; j < RMS_V4; j++) {
        int i = t + j * nt;
        if (i < n4) {
            float4 g = ((const float4*) gain)[i], o;
            o.x = g.x * (v[j].x * scale);
            o.y = g.y * (v[j].y * scale);
            o.z = g.z * (v[j].z * scale);
            o.w = g.w * (v[j].w * scale);
            if (out) ((float4*) (out + base))[i] = o;
            ((uint2*) (outb + base))[i] = make_uint2(pack_bf2(o.x, o.y), pack_bf2(o.z, o.w));
        }
    }
}

/** rms_norm by float4s (rms_row4). */
extern "C" __global__ void __launch_bounds__(1024) rms_norm_rows(const float* x, const float* gain, float* out, bf16_t* outb, int dim, float eps) {
    rms_row4<false>((float*) x, nullptr, gain, out, outb, dim, eps);
}

/** add_rms_norm by float4s (rms_row4). */
extern "C" __global__ void __launch_bounds__(1024) add_rms_norm_rows(float* acc, const float* x, const float* gain, float* out, bf16_t* outb, int dim, float eps) {
    rms_row4<true>(acc, x, gain, out, outb, dim, eps);
}

/** Rotary embeddings on each head of q[r] and k[r] (halves paired as in Hugging Face) at positions[r]. A thread per pair. */
extern "C" __global__ void rotary(float* __restrict__ q, float* __restrict__ k, const float* __restrict__ cosT, const float* __restrict__ sinT,
                                  const int* __restrict__ positions, int rows, int qCols, int kCols, int headDim) {
    int half = headDim >> 1;
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x, qPairs = (long long) rows * (qCols >> 1);
    float* x = q;
    int cols = qCols;
    if (t >= qPairs) { t -= qPairs; x = k; cols = kCols; }
    long long pairsPerRow = cols >> 1;
    if (t >= rows * pairsPerRow) return;
    int r = (int) (t / pairsPerRow), p = (int) (t % pairsPerRow);
    int h = p / half, i = p % half;
    long long at = (long long) r * cols + (long long) h * headDim + i;
    long long ti = (long long) positions[r] * half + i;
    float c = cosT[ti], s = sinT[ti];
    float x1 = x[at], x2 = x[at + half];
    x[at] = x1 * c - x2 * s;
    x[at + half] = x2 * c + x1 * s;
}

/** gate = silu(gate) * up, plus its bf16 rounding. */
extern "C" __global__ void silu_mul(float* __restrict__ gate, const float* __restrict__ up, bf16_t* __restrict__ gateb, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        float o = silu_times(gate[i], up[i]);
        gate[i] = o;
        gateb[i] = f2bf(o);
    }
}

/** out[r][c] = silu(gu[r][c]) * gu[r][n + c], plus its bf16 rounding: SwiGLU over a stacked gate-and-up GEMM's rows. total = rows * n. */
extern "C" __global__ void silu_mul_stacked(const float* __restrict__ gu, float* __restrict__ out, bf16_t* __restrict__ outb, int n, long long total) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long) gridDim.x * blockDim.x) {
        long long r = i / n;
        int c = (int) (i % n);
        float o = silu_times(gu[2 * r * n + c], gu[2 * r * n + n + c]);
        out[i] = o;
        outb[i] = f2bf(o);
    }
}

/**
 * silu_mul_stacked by rows, four columns a thread (n a multiple of 4): grid (ceil(n / 1024), rows), 256 threads. The same
 * products as silu_mul_stacked, with 16-byte loads and no 64-bit division per element; out null: the bf16 rounding alone.
 */
extern "C" __global__ void silu_mul_rows(const float* __restrict__ gu, float* __restrict__ out, bf16_t* __restrict__ outb, int n) {
    int c = 4 * (blockIdx.x * blockDim.x + threadIdx.x);
    if (c >= n) return;
    long long r = blockIdx.y;
    float4 g = *(const float4*) (gu + 2 * r * n + c), u = *(const float4*) (gu + 2 * r * n + n + c);
    float4 o = make_float4(silu_times(g.x, u.x), silu_times(g.y, u.y), silu_times(g.z, u.z), silu_times(g.w, u.w));
    if (out) *(float4*) (out + r * n + c) = o;
    *(uint2*) (outb + r * n + c) = make_uint2(pack_bf2(o.x, o.y), pack_bf2(o.z, o.w));
}

/** silu_mul_rows over the GEMM's bf16 output (silu_mul_stacked_bf16's products): grid (ceil(n / 1024), rows), 256 threads, n a multiple of 4. */
extern "C" __global__ void silu_mul_rows_bf16(const bf16_t* __restrict__ gu, float* __restrict__ out, bf16_t* __restrict__ outb, int n) {
    int c = 4 * (blockIdx.x * blockDim.x + threadIdx.x);
    if (c >= n) return;
    long long r = blockIdx.y;
    uint2 g = *(const uint2*) (gu + 2 * r * n + c), u = *(const uint2*) (gu + 2 * r * n + n + c);
    float4 o = make_float4(silu_times(lo16(g.x), lo16(u.x)), silu_times(hi16(g.x), hi16(u.x)),
                           silu_times(lo16(g.y), lo16(u.y)), silu_times(hi16(g.y), hi16(u.y)));
    if (out) *(float4*) (out + r * n + c) = o;
    *(uint2*) (outb + r * n + c) = make_uint2(pack_bf2(o.x, o.y), pack_bf2(o.z, o.w));
}

/**
 * Prefill's q, k and v straight from the stacked q/k/v GEMM's rows x[r] = [q | k | v] (nq + 2 nk columns): q and k rotated as
 * rotary rotates them (position positions[r], pairs i and i + headDim/2 of each head), all three rounded to bf16 (the
 * tensor-core prefill kernel's and the cache's inputs). One pass in place of split_columns, rotary and two to_bf16.
 * grid rows, 256 threads; headDim a multiple of 4, each thread two neighbouring pairs.
 */
extern "C" __global__ void qkv_rotary_bf16(const float* __restrict__ x, bf16_t* __restrict__ qb, bf16_t* __restrict__ kb,
                                           bf16_t* __restrict__ vb, const float* __restrict__ cosT, const float* __restrict__ sinT,
                                           const int* __restrict__ positions, int nq, int nk, int headDim) {
    long long r = blockIdx.x;
    int half = headDim >> 1, n = nq + 2 * nk;
    const float* row = x + r * n;
    const float* c = cosT + (long long) positions[r] * half;
    const float* s = sinT + (long long) positions[r] * half;
    int qPairs = nq >> 2, kPairs = nk >> 2;   // two pairs a thread
    for (int t = threadIdx.x; t < qPairs + kPairs; t += blockDim.x) {
        bool isQ = t < qPairs;
        int p = 2 * (isQ ? t : t - qPairs), h = p / half, i = p % half, at = h * headDim + i;
        const float* src = row + (isQ ? 0 : nq);
        bf16_t* dst = isQ ? qb + r * nq : kb + r * nk;
        float2 x1 = *(const float2*) (src + at), x2 = *(const float2*) (src + at + half);
        float2 cc = *(const float2*) (c + i), ss = *(const float2*) (s + i);
        float a0 = x1.x * cc.x - x2.x * ss.x, a1 = x1.y * cc.y - x2.y * ss.y;
        float b0 = x2.x * cc.x + x1.x * ss.x, b1 = x2.y * cc.y + x1.y * ss.y;
        *(unsigned*) (dst + at) = pack_bf2(a0, a1);
        *(unsigned*) (dst + at + half) = pack_bf2(b0, b1);
    }
    const float* v = row + nq + nk;
    for (int j = 2 * threadIdx.x; j < nk; j += 2 * blockDim.x) {
        float2 y = *(const float2*) (v + j);
        *(unsigned*) (vb + r * nk + j) = pack_bf2(y.x, y.y);
    }
}

/** silu_mul_stacked over the GEMM's bf16 output (gate and up rounded to bf16, as a bf16 framework's SwiGLU takes them). */
extern "C" __global__ void silu_mul_stacked_bf16(const bf16_t* __restrict__ gu, float* __restrict__ out, bf16_t* __restrict__ outb, int n,
                                                 long long total) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long) gridDim.x * blockDim.x) {
        long long r = i / n;
        int c = (int) (i % n);
        float o = silu_times(bf2f(gu[2 * r * n + c]), bf2f(gu[2 * r * n + n + c]));
        out[i] = o;
        outb[i] = f2bf(o);
    }
}

/** acc += x. */
extern "C" __global__ void add(float* __restrict__ acc, const float* __restrict__ x, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x)
        acc[i] += x[i];
}

/** y = x, a bf16 row's values as fp32 (an activation kept in bf16 alone, read as fp32). */
extern "C" __global__ void from_bf16(const bf16_t* __restrict__ x, float* __restrict__ y, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x)
        y[i] = bf2f(x[i]);
}

/** y = bf16(x). */
extern "C" __global__ void to_bf16(const float* __restrict__ x, bf16_t* __restrict__ y, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x)
        y[i] = f2bf(x[i]);
}

/** out[i] = x[rows[i]]. One block per output row. */
extern "C" __global__ void gather_rows(const float* __restrict__ x, const int* __restrict__ rows, float* __restrict__ out, int cols) {
    int i = blockIdx.x;
    const float* src = x + (long long) rows[i] * cols;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) out[(long long) i * cols + j] = src[j];
}

/** Fills n bf16 values with uniform random numbers in [-scale, scale) (benchmark weights made on the device). */
extern "C" __global__ void fill_random_bf16(bf16_t* __restrict__ w, long long n, unsigned long long seed, float scale) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        unsigned long long z = seed + 0x9E3779B97F4A7C15ull * (unsigned long long) (i + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float u = (float) (z >> 40) * (1.0f / 16777216.0f);
        w[i] = f2bf((2.f * u - 1.f) * scale);
    }
}

/** x[rows][n0 + n1 + n2] split by columns into o0[rows][n0], o1[rows][n1], o2[rows][n2]: a stacked GEMM's projections. total = rows * (n0 + n1 + n2). */
extern "C" __global__ void split_columns(const float* __restrict__ x, float* __restrict__ o0, float* __restrict__ o1, float* __restrict__ o2,
                                         int n0, int n1, int n2, long long total) {
    int n = n0 + n1 + n2;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long) gridDim.x * blockDim.x) {
        long long r = i / n;
        int c = (int) (i % n);
        if (c < n0) o0[r * n0 + c] = x[i];
        else if (c < n0 + n1) o1[r * n1 + c - n0] = x[i];
        else o2[r * n2 + c - n0 - n1] = x[i];
    }
}

/** out[i] = sum over s of partial[s][i], s in order: the K slices of a split-K GEMM. */
extern "C" __global__ void sum_splits(const float* __restrict__ partial, float* __restrict__ out, long long n, int splits) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        float a = partial[i];
        for (int s = 1; s < splits; s++) a += partial[(long long) s * n + i];
        out[i] = a;
    }
}
