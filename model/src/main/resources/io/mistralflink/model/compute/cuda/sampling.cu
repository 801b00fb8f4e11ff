// Sampling on the device: each row of logits gives one token id, the same one the host Sampler
// (io.mistralflink.model.sampling.Sampler) picks, so that only token ids travel back.
//
// Candidates are ordered by a 64-bit key (ascending = better: larger logit, then lower token id).
// Instead of sorting, a block finds the key where a prefix measure crosses a threshold by bisection:
// F(K) = sum over the tokens with key <= K of a weight is a step function of K, so the smallest K with
// F(K) >= X (or > X) is the key of the token at which the cumulative weight crosses X. The answer is
// built a bit at a time, the 32 bits of the logit word first, then the few bits a token id needs; each
// bit is one pass over the row and one block-wide sum. Such searches give top-k (weight 1, X = k),
// top-p (the kept tokens' weights, F / total >= top-p), min-p (weight 1, X = the number of kept tokens
// at least min-p times as likely as the first: they are a prefix) and the draw (F > u * mass of the
// kept prefix, u drawn on the host from the request's seed and step).
#include "common.cuh"

/**
 * The host's candidate key as an unsigned number: the logit's bits made order-preserving and
 * inverted in the high word (larger logit, smaller key; +0 before -0, as on the host), the token id in
 * the low word (ties to the lower id).
 */
__device__ __forceinline__ unsigned long long sort_key(float v, int i) {
    unsigned b = __float_as_uint(v);
    unsigned hi = (b & 0x80000000u) ? b : (~b & 0x7fffffffu);
    return ((unsigned long long) hi << 32) | (unsigned) i;
}

/** A candidate's weight exactly as the host computes it: exp((logit - max) / T) in double, the difference in float. */
__device__ __forceinline__ double weight(float v, float max, double invT) { return exp((double) (v - max) * invT); }

__device__ __forceinline__ void argmax_warp(float& best, int& idx) {
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
}

/** The index of the row's largest logit, the first among equals (as Sampler.argmax), given to every thread. */
__device__ int block_argmax(const float* __restrict__ row, int vocab, float* bv /* 32 */, int* bi /* 32 */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float best = NEG_INF;
    int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (v > best) { best = v; idx = i; }   // strided: a thread's earlier i is lower, keep it on ties
    }
    argmax_warp(best, idx);
    __syncthreads();
    if (lane == 0) { bv[warp] = best; bi[warp] = idx; }
    __syncthreads();
    best = lane < warps ? bv[lane] : NEG_INF;
    idx = lane < warps ? bi[lane] : 0x7fffffff;
    argmax_warp(best, idx);
    return idx == 0x7fffffff ? 0 : idx;   // no logit above -inf: token 0, as on the host
}

/** The row's largest key (its last candidate), given to every thread. */
__device__ unsigned long long block_max_key(const float* __restrict__ row, int vocab, unsigned long long* scratch /* 32 */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    unsigned long long m = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned long long k = sort_key(row[i], i);
        if (k > m) m = k;
    }
    for (int o = 16; o > 0; o >>= 1) { unsigned long long x = __shfl_xor_sync(0xffffffffu, m, o); if (x > m) m = x; }
    __syncthreads();
    if (lane == 0) scratch[warp] = m;
    __syncthreads();
    m = lane < warps ? scratch[lane] : 0ull;
    for (int o = 16; o > 0; o >>= 1) { unsigned long long x = __shfl_xor_sync(0xffffffffu, m, o); if (x > m) m = x; }
    return m;
}

/** Sum of the weights of the tokens with key <= bound, to every thread. */
__device__ double mass_upto(const float* __restrict__ row, int vocab, unsigned long long bound, float max, double invT,
                            double* scratch) {
    double s = 0.0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (sort_key(v, i) <= bound) s += weight(v, max, invT);
    }
    return block_sum(s, scratch);
}

/** How many tokens with key <= bound weigh at least x (the most likely weighs 1), to every thread. */
__device__ double count_at_least(const float* __restrict__ row, int vocab, unsigned long long bound, float max, double invT,
                                 double x, double* scratch) {
    double s = 0.0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (sort_key(v, i) <= bound && weight(v, max, invT) >= x) s += 1.0;
    }
    return block_sum(s, scratch);
}

/** What the prefix measure F must satisfy: count >= x (top-k), F / total >= x (top-p, as the host tests it), F > x (the draw). */
enum Crossing { COUNT_AT_LEAST, SHARE_AT_LEAST, MASS_ABOVE };

/**
 * The smallest key K of a token with key <= bound such that F(K) passes the test, where F(K) sums, over
 * the tokens with key <= min(K, bound), 1 (COUNT_AT_LEAST) or their weight. If no key passes (only
 * through rounding), bound: the last token of the set, where the host falls back too. Token ids are
 * below 2^lowBits. Every thread must call it, and every thread gets the same answer (its branches
 * depend only on block_sum results, which are bit-identical in all threads).
 *
 * Bit b of the answer (from the top): with the bits above it fixed in lo (bits below 0), t = lo with
 * bits 0..b-1 set is the largest key whose bit b is 0; if F(t) passes, bit b is 0, else 1. F(t) is the
 * known measure below lo plus one pass over the tokens with key in [lo, min(t, bound)], so the exp
 * is evaluated only inside the shrinking range.
 */
__device__ unsigned long long bisect(const float* __restrict__ row, int vocab, int lowBits, unsigned long long bound,
                                     float max, double invT, Crossing test, double x, double total, double* scratch) {
    unsigned long long lo = 0;
    double below = 0.0;   // F(lo - 1): the measure of the keys below the range still searched
    for (int b = 63; b >= 0; b--) {
        if (b < 32 && b >= lowBits) continue;   // token ids < 2^lowBits: these bits of the answer are 0
        unsigned long long t = lo | ((1ull << b) - 1ull);
        unsigned long long hi = t < bound ? t : bound;
        double s = 0.0;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            float v = row[i];
            unsigned long long key = sort_key(v, i);
            if (key >= lo && key <= hi) s += test == COUNT_AT_LEAST ? 1.0 : weight(v, max, invT);
        }
        double f = below + block_sum(s, scratch);
        bool pass = test == COUNT_AT_LEAST ? f >= x : test == SHARE_AT_LEAST ? f / total >= x : f > x;
        if (!pass) {
            if (t >= bound) return bound;   // F(bound) fails: no key passes (the same in every thread)
            below = f;
            lo = t + 1ull;                  // sets bit b (lo's bits below b+1 were 0); no overflow: t < bound
        }
    }
    return lo;
}

/**
 * One block (1024 threads) per row of logits[rows][vocab]. params[5r .. 5r+4] = {temperature (0:
 * greedy; negative: no params, the row gives -1), top-p (1: off), top-k (0: off), min-p (0: off),
 * u in [0, 1)}. The filters apply in Hugging Face's order: top-k, top-p, min-p.
 * out[r] = the token id. The launch bounds let the compiler use up to 64 registers a thread (one block
 * an SM), without which it squeezes into 32 and spills.
 */
extern "C" __global__ void __launch_bounds__(1024, 1) sample_rows(const float* __restrict__ logits, int vocab,
                                                               const double* __restrict__ params, int* __restrict__ out) {
    __shared__ double sums[32];
    __shared__ unsigned long long keys[32];
    __shared__ float bv[32];
    __shared__ int bi[32];
    const float* row = logits + (long long) blockIdx.x * vocab;
    const double* p = params + 5ll * blockIdx.x;
    float temperature = (float) p[0], topP = (float) p[1];
    int topK = (int) p[2];
    double minP = p[3], u = p[4];
    // Every branch below depends on the row's parameters or on block-wide results only: uniform in the block.
    if (temperature < 0.f) {
        if (threadIdx.x == 0) out[blockIdx.x] = -1;
        return;
    }
    int best = block_argmax(row, vocab, bv, bi);
    if (temperature == 0.f) {
        if (threadIdx.x == 0) out[blockIdx.x] = best;
        return;
    }
    float max = row[best];
    double invT = 1.0 / (double) temperature;
    int lowBits = 0;
    while ((1ll << lowBits) < vocab) lowBits++;
    // the kept set: keys <= bound
    unsigned long long bound = topK > 0 && topK < vocab
            ? bisect(row, vocab, lowBits, ~0ull, max, invT, COUNT_AT_LEAST, (double) topK, 1.0, sums)
            : block_max_key(row, vocab, keys);
    if (topP < 1.f) {
        double total = mass_upto(row, vocab, bound, max, invT, sums);
        bound = bisect(row, vocab, lowBits, bound, max, invT, SHARE_AT_LEAST, (double) topP, total, sums);
    }
    if (minP > 0.0) {   // at least the first passes: its weight is 1
        double passing = count_at_least(row, vocab, bound, max, invT, minP, sums);
        bound = bisect(row, vocab, lowBits, bound, max, invT, COUNT_AT_LEAST, passing, 1.0, sums);
    }
    double target = u * mass_upto(row, vocab, bound, max, invT, sums);
    unsigned long long k = bisect(row, vocab, lowBits, bound, max, invT, MASS_ABOVE, target, 1.0, sums);
    if (threadIdx.x == 0) out[blockIdx.x] = (int) (unsigned) (k & 0xffffffffull);
}
