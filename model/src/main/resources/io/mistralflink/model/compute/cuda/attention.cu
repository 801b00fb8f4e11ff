// Grouped-query attention with a sliding window over rolling bf16 KV caches, for decode rows and for
// chunked-prefill rows alike (each row is one query position of one sequence's segment).
//
// Per row r, meta[r*6 .. r*6+5] = {position, segment start, segment's first row, segment length,
// cache capacity (slots), unused} and cacheBase[r] = the sequence's cache: for each layer l, keys
// [cap][kvDim] bf16 at element offset 2*l*cap*kvDim, values right after them. Position p lives in slot
// p mod window (while cap < window every cached position p < cap, so the same rule holds).
//
// The query at position i sees keys i-W+1 .. i: those before the segment start come from the cache,
// the rest are the segment's fresh keys (fp32, rounded to bf16 as the cache would hold them, so a
// chunked prefill gives the same result as one pass). Fresh keys enter the cache afterwards
// (kv_store), since a chunk's early queries still need the slots its late keys will take.
#include "common.cuh"

/**
 * Dimension d of (row r, head h) from split s of `splits`, whose softmax over its keys has maximum m,
 * sum l and unnormalized value sum a: with one split the output (and its bf16 rounding), else the
 * split's partial (m, l, a[headDim]) at partial[((r*heads + h)*splits + s)*(headDim+2)].
 */
__device__ __forceinline__ void emit(float a, float m, float l, int r, int h, int d, int s, int splits, int heads, int headDim,
                                     float* __restrict__ out, bf16_t* __restrict__ outb, float* __restrict__ partial) {
    if (splits == 1) {
        float o = l > 0.f ? a / l : 0.f;
        long long at = (long long) r * heads * headDim + (long long) h * headDim + d;
        out[at] = o;
        outb[at] = f2bf(o);
    } else {
        float* P = partial + ((long long) (r * heads + h) * splits + s) * (headDim + 2);
        P[2 + d] = a;
        if (d == 0) { P[0] = m; P[1] = l; }
    }
}

/**
 * grid (rows, heads, splits), block of 128 threads (4 warps); any headDim (multiples of 8 take 16-byte
 * loads of a key row, multiples of 32 a lane's consecutive dimensions in the value pass; other sizes element
 * loads and dimensions lane, lane + 32, ...; above 256 dimensions, more than a lane's registers hold, each
 * warp sums its values in its row of shared memory: the correct, slower path for every head size).
 * Split s covers the s-th of `splits` equal parts of the row's keys (computed here from the row's own
 * position, so a decode step's launch is the same at every position and its graph keeps replaying);
 * with one split the result goes to out, else a partial (max, sum, acc[headDim]) goes to
 * partial[((r*heads + h)*splits + s)*(headDim+2)] for attention_combine (an empty part gives sum 0). Online softmax over tiles of blockDim keys: a thread scores one key of the tile
 * (16-byte loads of its whole key row), then each warp accumulates a quarter of the tile's values,
 * a lane owning headDim/32 dimensions. Dynamic shared memory: (headDim + blockDim + 32 + warps*headDim) floats.
 */
extern "C" __global__ void attention(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                     float* __restrict__ out, bf16_t* __restrict__ outb,
                                     const int* __restrict__ meta, const unsigned long long* __restrict__ cacheBase,
                                     int layer, int heads, int kvHeads, int headDim, int window, float scale,
                                     float* __restrict__ partial, int storeFused) {
    extern __shared__ float sm[];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5, nt = blockDim.x;
    float* qs = sm;
    float* sc = qs + headDim;
    float* red = sc + nt;
    float* part = red + 32;
    int r = blockIdx.x, h = blockIdx.y, s = blockIdx.z, splits = gridDim.z;
    const int* m = meta + r * 6;
    int pos = m[0], start = m[1], off = m[2], cap = m[4];
    int kvDim = kvHeads * headDim, group = heads / kvHeads, kvOff = (h / group) * headDim;
    int lo = imax(0, pos - window + 1), per = (pos + 1 - lo + splits - 1) / splits;
    int jBeg = lo + s * per, jEnd = imin(pos + 1, jBeg + per);
    const bf16_t* ck = (const bf16_t*) cacheBase[r] + (long long) (2 * layer) * cap * kvDim;
    const bf16_t* cv = ck + (long long) cap * kvDim;
    const float* qrow = q + (long long) r * heads * headDim + (long long) h * headDim;
    for (int d = tid; d < headDim; d += nt) qs[d] = qrow[d];
    if (storeFused && h == 0 && s == 0) {
        // Decode rows only (every segment one token long): the slot pos mod W held position pos - W, which
        // no query of this launch reads, so the fresh key and value can enter the cache right away.
        bf16_t* wk = (bf16_t*) cacheBase[r] + (long long) (2 * layer) * cap * kvDim + (long long) (pos % window) * kvDim;
        bf16_t* wv = wk + (long long) cap * kvDim;
        for (int d = tid; d < kvDim; d += nt) {
            wk[d] = f2bf(k[(long long) off * kvDim + d]);
            wv[d] = f2bf(v[(long long) off * kvDim + d]);
        }
    }
    __syncthreads();

    int dpl = headDim >> 5;          // dimensions per lane in the value pass
    bool strided = (headDim & 31) != 0;   // then lane holds dimensions lane + 32 e, e < ceil(headDim / 32)
    bool wide = headDim > 256;            // then the warp's sums live in its row of part (dimensions lane, lane + 32, ...)
    float* pw = part + warp * headDim;
    float acc[8];
#pragma unroll
    for (int e = 0; e < 8; e++) acc[e] = 0.f;
    if (wide) for (int d = lane; d < headDim; d += 32) pw[d] = 0.f;
    float mRun = NEG_INF, lRun = 0.f;
    for (int t0 = jBeg; t0 < jEnd; t0 += nt) {
        int tn = imin(nt, jEnd - t0);
        float sco = NEG_INF;
        if (tid < tn) {
            int j = t0 + tid;
            float dot = 0.f;
            if ((headDim & 7) != 0) {
                for (int d = 0; d < headDim; d++)
                    dot = fmaf(qs[d], j < start ? bf2f(ck[(long long) (j % window) * kvDim + kvOff + d])
                                                : round_bf(k[(long long) (off + j - start) * kvDim + kvOff + d]), dot);
            } else if (j < start) {
                const uint4* kr = (const uint4*) (ck + (long long) (j % window) * kvDim + kvOff);
#pragma unroll 8   // loads in flight: a decode step's attention waits on memory latency, not bandwidth
                for (int c = 0; c < (headDim >> 3); c++) {
                    uint4 w = kr[c];
                    const float* qq = qs + 8 * c;
                    dot = fmaf(qq[0], lo16(w.x), dot); dot = fmaf(qq[1], hi16(w.x), dot);
                    dot = fmaf(qq[2], lo16(w.y), dot); dot = fmaf(qq[3], hi16(w.y), dot);
                    dot = fmaf(qq[4], lo16(w.z), dot); dot = fmaf(qq[5], hi16(w.z), dot);
                    dot = fmaf(qq[6], lo16(w.w), dot); dot = fmaf(qq[7], hi16(w.w), dot);
                }
            } else {
                const float4* kr = (const float4*) (k + (long long) (off + j - start) * kvDim + kvOff);
#pragma unroll 8
                for (int c = 0; c < (headDim >> 2); c++) {
                    float4 f = kr[c];
                    const float* qq = qs + 4 * c;
                    dot = fmaf(qq[0], round_bf(f.x), dot); dot = fmaf(qq[1], round_bf(f.y), dot);
                    dot = fmaf(qq[2], round_bf(f.z), dot); dot = fmaf(qq[3], round_bf(f.w), dot);
                }
            }
            sco = dot * scale;
        }
        float mNew = fmaxf(mRun, block_max(sco, red));
        float p = tid < tn ? expf(sco - mNew) : 0.f;
        sc[tid] = p;
        float psum = block_sum(p, red);           // its barriers also publish sc
        float corr = expf(mRun - mNew);
        lRun = lRun * corr + psum;
#pragma unroll
        for (int e = 0; e < 8; e++) acc[e] *= corr;
        if (wide) for (int d = lane; d < headDim; d += 32) pw[d] *= corr;
#pragma unroll 8
        for (int i = warp; i < tn; i += warps) {
            int j = t0 + i;
            float pj = sc[i];
            if (wide) {
                for (int d = lane; d < headDim; d += 32)
                    pw[d] = fmaf(pj, j < start ? bf2f(cv[(long long) (j % window) * kvDim + kvOff + d])
                                               : round_bf(v[(long long) (off + j - start) * kvDim + kvOff + d]), pw[d]);
            } else if (strided) {
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    int d = lane + 32 * e;
                    if (d < headDim)
                        acc[e] = fmaf(pj, j < start ? bf2f(cv[(long long) (j % window) * kvDim + kvOff + d])
                                                    : round_bf(v[(long long) (off + j - start) * kvDim + kvOff + d]), acc[e]);
                }
            } else if (j < start) {
                const bf16_t* vr = cv + (long long) (j % window) * kvDim + kvOff + lane * dpl;
                if (dpl == 4) {
                    uint2 w = *(const uint2*) vr;
                    acc[0] = fmaf(pj, lo16(w.x), acc[0]); acc[1] = fmaf(pj, hi16(w.x), acc[1]);
                    acc[2] = fmaf(pj, lo16(w.y), acc[2]); acc[3] = fmaf(pj, hi16(w.y), acc[3]);
                } else {
#pragma unroll
                    for (int e = 0; e < 8; e++) if (e < dpl) acc[e] = fmaf(pj, bf2f(vr[e]), acc[e]);
                }
            } else {
                const float* vr = v + (long long) (off + j - start) * kvDim + kvOff + lane * dpl;
                if (dpl == 4) {
                    float4 f = *(const float4*) vr;
                    acc[0] = fmaf(pj, round_bf(f.x), acc[0]); acc[1] = fmaf(pj, round_bf(f.y), acc[1]);
                    acc[2] = fmaf(pj, round_bf(f.z), acc[2]); acc[3] = fmaf(pj, round_bf(f.w), acc[3]);
                } else {
#pragma unroll
                    for (int e = 0; e < 8; e++) if (e < dpl) acc[e] = fmaf(pj, round_bf(vr[e]), acc[e]);
                }
            }
        }
        mRun = mNew;
        __syncthreads();                          // sc is rewritten by the next tile
    }
#pragma unroll
    for (int e = 0; e < 8; e++) {
        if (wide) break;
        if (strided) { if (lane + 32 * e < headDim) part[warp * headDim + lane + 32 * e] = acc[e]; }
        else if (e < dpl) part[warp * headDim + lane * dpl + e] = acc[e];
    }
    __syncthreads();
    for (int d = tid; d < headDim; d += nt) {
        float a = 0.f;
        for (int w = 0; w < warps; w++) a += part[w * headDim + d];
        emit(a, mRun, lRun, r, h, d, s, splits, heads, headDim, out, outb, partial);
    }
}

/** Merges the splits' partials. grid (rows, heads), block >= headDim threads. */
extern "C" __global__ void attention_combine(const float* __restrict__ partial, float* __restrict__ out, bf16_t* __restrict__ outb,
                                             int heads, int headDim, int splits) {
    int r = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
    if (d >= headDim) return;
    const float* P = partial + (long long) (r * heads + h) * splits * (headDim + 2);
    float M = NEG_INF;
#pragma unroll 16   // the splits' loads in flight together
    for (int s = 0; s < splits; s++) M = fmaxf(M, P[s * (headDim + 2)]);
    float L = 0.f, acc = 0.f;
#pragma unroll 16
    for (int s = 0; s < splits; s++) {
        const float* p = P + s * (headDim + 2);
        if (p[1] == 0.f) continue;
        float w = expf(p[0] - M);
        L = fmaf(p[1], w, L);
        acc = fmaf(p[2 + d], w, acc);
    }
    float o = L > 0.f ? acc / L : 0.f;
    long long at = (long long) r * heads * headDim + (long long) h * headDim + d;
    out[at] = o;
    outb[at] = f2bf(o);
}

__device__ __forceinline__ bf16_t as_bf(float x) { return f2bf(x); }
__device__ __forceinline__ bf16_t as_bf(bf16_t x) { return x; }

/** The fresh keys and values (the last `window` rows of each segment) enter their slots as bf16. grid rows. */
template <typename T>
__device__ __forceinline__ void kv_store_rows(const T* __restrict__ k, const T* __restrict__ v, const int* __restrict__ meta,
                                              const unsigned long long* __restrict__ cacheBase, int layer, int kvDim, int window) {
    int r = blockIdx.x;
    const int* m = meta + r * 6;
    int pos = m[0], off = m[2], len = m[3], cap = m[4];
    if (r - off < len - window) return;
    bf16_t* ck = (bf16_t*) cacheBase[r] + (long long) (2 * layer) * cap * kvDim;
    bf16_t* cv = ck + (long long) cap * kvDim;
    long long slot = (long long) (pos % window) * kvDim;
    for (int d = threadIdx.x; d < kvDim; d += blockDim.x) {
        ck[slot + d] = as_bf(k[(long long) r * kvDim + d]);
        cv[slot + d] = as_bf(v[(long long) r * kvDim + d]);
    }
}

extern "C" __global__ void kv_store(const float* __restrict__ k, const float* __restrict__ v, const int* __restrict__ meta,
                                    const unsigned long long* __restrict__ cacheBase, int layer, int kvDim, int window) {
    kv_store_rows(k, v, meta, cacheBase, layer, kvDim, window);
}

/** kv_store from the fresh keys and values' bf16 rounding (the fused prefill path writes no fp32 k and v). */
extern "C" __global__ void kv_store_bf16(const bf16_t* __restrict__ kb, const bf16_t* __restrict__ vb, const int* __restrict__ meta,
                                         const unsigned long long* __restrict__ cacheBase, int layer, int kvDim, int window) {
    kv_store_rows(kb, vb, meta, cacheBase, layer, kvDim, window);
}

/** Copies a cache into a larger one (capacity grows while below the window; position p is in slot p). grid (layers*2). */
extern "C" __global__ void kv_grow(const bf16_t* __restrict__ from, bf16_t* __restrict__ to, int oldCap, int newCap, int kvDim) {
    int part = blockIdx.x;  // layer*2 + (0 keys | 1 values)
    const bf16_t* src = from + (long long) part * oldCap * kvDim;
    bf16_t* dst = to + (long long) part * newCap * kvDim;
    long long n = (long long) oldCap * kvDim;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

/** D consecutive bf16 values (D in 1, 2, 4, 8; p aligned to 2*D bytes) as floats. */
template <int D>
__device__ __forceinline__ void load_bf(const bf16_t* p, float* out) {
    if constexpr (D == 8) {
        uint4 w = *(const uint4*) p;
        out[0] = lo16(w.x); out[1] = hi16(w.x); out[2] = lo16(w.y); out[3] = hi16(w.y);
        out[4] = lo16(w.z); out[5] = hi16(w.z); out[6] = lo16(w.w); out[7] = hi16(w.w);
    } else if constexpr (D == 4) {
        uint2 w = *(const uint2*) p;
        out[0] = lo16(w.x); out[1] = hi16(w.x); out[2] = lo16(w.y); out[3] = hi16(w.y);
    } else if constexpr (D == 2) {
        unsigned w = *(const unsigned*) p;
        out[0] = lo16(w); out[1] = hi16(w);
    } else {
        out[0] = bf2f(*p);
    }
}

/**
 * Element d of a head (x: its headDim floats) after the rotary embedding of its position (c, s: that
 * position's cos and sin rows, headDim/2 each; c null: x[d] as it is), halves paired as in Hugging Face,
 * computed as the rotary kernel computes it.
 */
__device__ __forceinline__ float rope_at(const float* x, int d, int half, const float* c, const float* s) {
    if (c == nullptr) return x[d];
    if (d < half) return x[d] * c[d] - x[d + half] * s[d];
    return x[d] * c[d - half] + x[d - half] * s[d - half];
}

/** A decode block's row: its part [jBeg, jEnd) of the window, its cache, its fresh key and value, its rotation (rc null: none). */
struct DecodeBlock {
    int start, jBeg, jEnd, kvDim, kvOff, half;
    const bf16_t* ck;
    const bf16_t* cv;
    const float* kf;
    const float* vf;
    const float* rc;
    const float* rs;

    /** Dimension d of the fresh key, rotated, rounded to bf16 as the cache holds it. */
    __device__ __forceinline__ float key(int d) const { return round_bf(rope_at(kf, d, half, rc, rs)); }
};

/**
 * Block (r, kvh, s) of a decode launch: grid (rows, kvHeads, splits); part s of `splits` equal parts of
 * row r's keys (computed here from the row's own position, so a decode step's launch is the same at every
 * position and its graph keeps replaying). Block s == 0 stores the fresh key and value (rounded to bf16)
 * into their slot, which held position pos - W: no query of this launch reads it, the fresh ones are read
 * from k and v. With rope tables (cosT, sinT: [position][headDim/2]; null when q and k come rotated) the
 * block rotates q and the fresh key as it reads them, which saves the rotary launch of a decode step.
 */
__device__ __forceinline__ DecodeBlock decode_block(const float* __restrict__ k, const float* __restrict__ v, const int* __restrict__ meta,
                                                    const unsigned long long* __restrict__ cacheBase, int layer, int kvHeads, int headDim, int window,
                                                    const float* __restrict__ cosT, const float* __restrict__ sinT) {
    int r = blockIdx.x, kvh = blockIdx.y, s = blockIdx.z, splits = gridDim.z;
    const int* m = meta + r * 6;
    int pos = m[0], off = m[2], cap = m[4];
    DecodeBlock b;
    b.start = m[1];
    b.kvDim = kvHeads * headDim;
    b.kvOff = kvh * headDim;
    int lo = imax(0, pos - window + 1), per = (pos + 1 - lo + splits - 1) / splits;
    b.jBeg = lo + s * per;
    b.jEnd = imin(pos + 1, b.jBeg + per);
    bf16_t* ck = (bf16_t*) cacheBase[r] + (long long) (2 * layer) * cap * b.kvDim;
    bf16_t* cv = ck + (long long) cap * b.kvDim;
    b.ck = ck;
    b.cv = cv;
    b.kf = k + (long long) off * b.kvDim + b.kvOff;
    b.vf = v + (long long) off * b.kvDim + b.kvOff;
    b.half = headDim >> 1;
    b.rc = cosT == nullptr ? nullptr : cosT + (long long) pos * b.half;
    b.rs = cosT == nullptr ? nullptr : sinT + (long long) pos * b.half;
    if (s == 0)
        for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
            long long slot = (long long) (pos % window) * b.kvDim + b.kvOff + d;
            ck[slot] = f2bf(b.key(d));
            cv[slot] = f2bf(b.vf[d]);
        }
    return b;
}

/**
 * The end of a decode block, once every warp has put its online softmax in shared memory (for each warp w and
 * head g: running max smax[w*G+g] (natural-log units), sum ssum[w*G+g], unnormalized values sacc[(w*G+g)*headDim ..]):
 * the warps' parts are merged and emitted as the block's output or partial.
 */
template <int G>
__device__ __forceinline__ void emit_merged(const float* sacc, const float* smax, const float* ssum, int headDim, int kvh, int heads,
                                            float* __restrict__ out, bf16_t* __restrict__ outb, float* __restrict__ partial) {
    int warps = blockDim.x >> 5, r = blockIdx.x, s = blockIdx.z, splits = gridDim.z;
    for (int i = threadIdx.x; i < G * headDim; i += blockDim.x) {
        int g = i / headDim, d = i % headDim, h = kvh * G + g;
        float M = NEG_INF;
        for (int w = 0; w < warps; w++) if (ssum[w * G + g] > 0.f) M = fmaxf(M, smax[w * G + g]);
        float L = 0.f, a = 0.f;
        for (int w = 0; w < warps; w++) {
            if (ssum[w * G + g] == 0.f) continue;
            float c = expf(smax[w * G + g] - M);
            L = fmaf(ssum[w * G + g], c, L);
            a = fmaf(sacc[(w * G + g) * headDim + d], c, a);
        }
        emit(a, M, L, r, h, d, s, splits, heads, headDim, out, outb, partial);
    }
}

/**
 * The end of a tiled decode block: each warp's online softmax (running max mx, sum l and unnormalized values
 * acc of this lane's D dimensions, for the G heads) goes to shared memory (sacc [warp][G][headDim], smax /
 * ssum [warp][G]), then emit_merged.
 */
template <int G, int D>
__device__ __forceinline__ void merge_warps(const float (&acc)[G][D], const float* mx, const float* l, float* sacc, float* smax, float* ssum,
                                            int kvh, int heads, float* __restrict__ out, bf16_t* __restrict__ outb, float* __restrict__ partial) {
    const int headDim = 32 * D;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (lane == 0) { smax[warp * G + g] = mx[g]; ssum[warp * G + g] = l[g]; }
#pragma unroll
        for (int e = 0; e < D; e++) sacc[(warp * G + g) * headDim + lane * D + e] = acc[g][e];
    }
    __syncthreads();
    emit_merged<G>(sacc, smax, ssum, headDim, kvh, heads, out, outb, partial);
}

/**
 * Decode attention (every segment one token long): grid (rows, kvHeads, splits), a block of 128 threads
 * (4 warps) serving the G query heads that share one key/value head, so each cached key and value is read
 * once for all of them. Output and partials as in attention (same partial layout, same combine); parts,
 * fresh key and slot as in decode_block. The block's G query heads sit in shared memory; warp w takes tiles
 * w, w+4, ... of TK = 32/L keys of the block's part of the window. In a tile L lanes score each key for the
 * G heads, each from 1/L of the key row (16-byte loads, log2(L) shuffles a key), while the key's value row
 * is copied into the warp's shared tile; the warp takes the tile's maximum once, then walks the tile's keys
 * adding p * value from shared memory (a lane holds D = headDim/32 dimensions, each p one shuffle). So a
 * tile waits for memory once, and a key costs a fraction of the instructions of a warp-per-key form (a warp
 * sum per key and head; on an H200, 7B shape, it was 3-7% slower a step at batch 4 to 16, equal at batch 1).
 * Smaller tiles (L = 4) keep all four warps busy when a block has few keys (a row cut in parts).
 * Dynamic shared memory: (G + 2)*headDim floats, then the larger of 4*TK*headDim bf16 (the value tiles)
 * and 4*G*headDim floats (the warps' partial sums, at the end).
 */
template <int G, int D, int L, bool PF>
__device__ __forceinline__ void attention_decode_tiled_body(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                                            float* __restrict__ out, bf16_t* __restrict__ outb,
                                                            const int* __restrict__ meta, const unsigned long long* __restrict__ cacheBase,
                                                            int layer, int heads, int kvHeads, int window, float scale, float* __restrict__ partial,
                                                            const float* __restrict__ cosT, const float* __restrict__ sinT) {
    extern __shared__ float smem[];
    __shared__ float smax[4][G], ssum[4][G];
    const int headDim = 32 * D;
    float* qs = smem;                        // [G][headDim]
    float* kn = qs + G * headDim;            // the fresh key and value, rounded to bf16 as the cache holds them
    float* vn = kn + headDim;
    const int TK = 32 / L;                   // keys per tile: L lanes score a key, each over headDim/L dimensions
    bf16_t* vtiles = (bf16_t*) (vn + headDim);   // [warp][TK][headDim]
    float* sacc = vn + headDim;              // [warp][G][headDim], after the last tile
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int r = blockIdx.x, kvh = blockIdx.y;
    DecodeBlock b = decode_block(k, v, meta, cacheBase, layer, kvHeads, headDim, window, cosT, sinT);
    const float* qr = q + (long long) r * heads * headDim + (long long) kvh * G * headDim;
    for (int i = threadIdx.x; i < G * headDim; i += blockDim.x) qs[i] = rope_at(qr + (i / headDim) * headDim, i % headDim, b.half, b.rc, b.rs);
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) { kn[d] = b.key(d); vn[d] = round_bf(b.vf[d]); }
    __syncthreads();
    float acc[G][D], mx[G], l[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        mx[g] = NEG_INF;
        l[g] = 0.f;
#pragma unroll
        for (int e = 0; e < D; e++) acc[g][e] = 0.f;
    }
    int kk = lane % TK, part = lane / TK;     // this lane's key of the tile, its part of the dimensions
    const int CH = 4 * D / L;                  // 16-byte chunks of a key or value row per lane
    // PF: this lane's part of its key in the warp's next tile is loaded one tile ahead (in registers), so
    // that a tile's key loads are in flight while the tile before is scored and summed.
    uint4 kw[CH];
    if constexpr (PF) {
        int j = b.jBeg + TK * warp + kk;
        if (j < b.jEnd && j < b.start) {
            const uint4* kr = (const uint4*) (b.ck + (long long) (j % window) * b.kvDim + b.kvOff) + part * CH;
#pragma unroll
            for (int c = 0; c < CH; c++) kw[c] = kr[c];
        }
    }
    for (int t0 = b.jBeg + TK * warp; t0 < b.jEnd; t0 += TK * warps) {
        int j = t0 + kk;
        bool live = j < b.jEnd;
        bf16_t* vt = vtiles + warp * TK * headDim;
        if (live && j < b.start) {
            const uint4* vr = (const uint4*) (b.cv + (long long) (j % window) * b.kvDim + b.kvOff) + part * CH;
#pragma unroll
            for (int c = 0; c < CH; c++) cp16(vt + kk * headDim + 8 * (part * CH + c), vr + c);
        }
        uint4 kcur[CH];
        if constexpr (!PF) {
            if (live && j < b.start) {
                const uint4* kr = (const uint4*) (b.ck + (long long) (j % window) * b.kvDim + b.kvOff) + part * CH;
#pragma unroll
                for (int c = 0; c < CH; c++) kcur[c] = kr[c];
            }
        } else {
#pragma unroll
            for (int c = 0; c < CH; c++) kcur[c] = kw[c];
            int jn = j + TK * warps;
            if (jn < b.jEnd && jn < b.start) {
                const uint4* kr = (const uint4*) (b.ck + (long long) (jn % window) * b.kvDim + b.kvOff) + part * CH;
#pragma unroll
                for (int c = 0; c < CH; c++) kw[c] = kr[c];
            }
        }
        float sc[G];
#pragma unroll
        for (int g = 0; g < G; g++) sc[g] = 0.f;
        if (live && j < b.start) {
#pragma unroll
            for (int c0 = 0; c0 < CH; c0++) {
                int c = part * CH + c0;
                uint4 w = kcur[c0];
                float kx[8] = {lo16(w.x), hi16(w.x), lo16(w.y), hi16(w.y), lo16(w.z), hi16(w.z), lo16(w.w), hi16(w.w)};
#pragma unroll
                for (int g = 0; g < G; g++) {
                    const float4* qq = (const float4*) (qs + g * headDim + 8 * c);
                    float4 a = qq[0], b = qq[1];
                    float t = sc[g];
                    t = fmaf(a.x, kx[0], t); t = fmaf(a.y, kx[1], t); t = fmaf(a.z, kx[2], t); t = fmaf(a.w, kx[3], t);
                    t = fmaf(b.x, kx[4], t); t = fmaf(b.y, kx[5], t); t = fmaf(b.z, kx[6], t); t = fmaf(b.w, kx[7], t);
                    sc[g] = t;
                }
            }
        } else if (live) {                  // j == start: this step's own key
#pragma unroll 8
            for (int d = part * (headDim / L); d < (part + 1) * (headDim / L); d++) {
#pragma unroll
                for (int g = 0; g < G; g++) sc[g] = fmaf(qs[g * headDim + d], kn[d], sc[g]);
            }
        }
#pragma unroll
        for (int o = 16; o >= TK; o >>= 1) {     // the key's other parts
#pragma unroll
            for (int g = 0; g < G; g++) sc[g] += __shfl_xor_sync(0xffffffffu, sc[g], o);
        }
        float p[G];
#pragma unroll
        for (int g = 0; g < G; g++) {
            float x = live ? sc[g] * scale : NEG_INF;
            float mNew = fmaxf(mx[g], warp_max(x)), c = expf(mx[g] - mNew);
            p[g] = live ? expf(x - mNew) : 0.f;
            l[g] = l[g] * c + (part == 0 ? p[g] : 0.f);   // this lane's share of the sum (one lane per key)
#pragma unroll
            for (int e = 0; e < D; e++) acc[g][e] *= c;
            mx[g] = mNew;
        }
        cp_commit();                             // this tile's value copies as one group
        cp_wait_all();
        __syncwarp();
        int tn = imin(TK, b.jEnd - t0);
#pragma unroll 4
        for (int i = 0; i < tn; i++) {
            int jj = t0 + i;
            float vd[D];
            if (jj < b.start) load_bf<D>(vt + i * headDim + lane * D, vd);
            else {
#pragma unroll
                for (int e = 0; e < D; e++) vd[e] = vn[lane * D + e];
            }
#pragma unroll
            for (int g = 0; g < G; g++) {
                float pi = __shfl_sync(0xffffffffu, p[g], i);
#pragma unroll
                for (int e = 0; e < D; e++) acc[g][e] = fmaf(pi, vd[e], acc[g][e]);
            }
        }
        __syncwarp();                            // the next tile's copies overwrite vt
    }
#pragma unroll
    for (int g = 0; g < G; g++) l[g] = warp_sum(l[g]);   // the lanes' shares of each sum
    __syncthreads();                             // sacc reuses the value tiles
    merge_warps<G, D>(acc, mx, l, sacc, &smax[0][0], &ssum[0][0], kvh, heads, out, outb, partial);
}

// Two families (-Dmistralflink.cuda.decodeFamily): tiledp, the default (the next tile's keys prefetched into registers:
// 128 registers for 4 heads x 128 dimensions, four blocks an SM), and tiled (no prefetch: 78 registers, six blocks an SM).
// H200, 7B, decode tok/s tiledp / tiled (session 5 call 3, separate JVMs): after 8,192-token prompts batch 1 203 / 197,
// batch 8 1,131 / 1,135, batch 32 2,245 / 2,189; 128 + 128: batch 1 214.6 / 213.4, batch 64 9,677 / 9,517. A form capped at
// 64 registers (eight blocks an SM, a few spilled) gave 186 / 1,158 / 2,297 there and was dropped.
extern "C" __global__ void attention_decode_tiled4_1x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 1, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_1x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 2, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_1x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 4, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_1x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 8, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_2x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 1, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_2x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 2, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_2x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 4, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_2x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 8, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_4x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 1, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_4x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 2, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_4x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 4, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_4x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 8, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_8x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 1, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_8x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 2, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_8x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 4, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled4_8x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 8, 4, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_1x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 1, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_1x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 2, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_1x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 4, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_1x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 8, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_2x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 1, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_2x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 2, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_2x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 4, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_2x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 8, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_4x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 1, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_4x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 2, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_4x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 4, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_4x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 8, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_8x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 1, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_8x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 2, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_8x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 4, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiled2_8x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 8, 2, false>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_1x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 1, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_1x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 2, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_1x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 4, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_1x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 8, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_2x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 1, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_2x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 2, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_2x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 4, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_2x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 8, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_4x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 1, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_4x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 2, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_4x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 4, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_4x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 8, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_8x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 1, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_8x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 2, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_8x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 4, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp4_8x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 8, 4, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_1x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 1, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_1x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 2, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_1x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 4, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_1x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<1, 8, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_2x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 1, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_2x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 2, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_2x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 4, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_2x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<2, 8, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_4x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 1, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_4x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 2, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_4x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 4, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_4x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<4, 8, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_8x1(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 1, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_8x2(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 2, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_8x4(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 4, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void attention_decode_tiledp2_8x8(const float* q, const float* k, const float* v, float* out, bf16_t* outb, const int* meta,
        const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_tiled_body<8, 8, 2, true>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}

/**
 * Decode attention on tensor cores, for long windows: grid (rows, kvHeads, splits), 128 threads (4 warps);
 * parts, fresh key and slot, rotation, output and partials as in the tiled kernels. The G <= 8 query heads
 * of the key/value head are the rows of one m16n8k16 product: row g holds head g's q rounded to bf16, row 8 + g
 * the remainder q - bf16(q) rounded again, so a score (the sum of rows g and 8 + g, which the same lane holds)
 * carries about 16 bits of q; likewise p enters the P V product as bf16(p) in row g and its remainder in row
 * 8 + g. K and V are bf16 already, so the result matches the fp32 kernels to about 1e-6 (where the prefill
 * kernel, with q and p in bf16 alone, is off by 2e-3). Warp w takes tiles w, w + 4, ... of 16 keys of the
 * block's part and keeps NS - 1 tiles in flight (cp.async into its own NS shared stages, keys and values), so
 * that the cache streams from memory while earlier tiles are scored: the loads, not the arithmetic, set the
 * pace. Dynamic shared memory: 2*HD bf16 (the fresh key and value) + 4*NS*2*16*(HD+8) bf16 (the stages, then
 * the warps' partial sums, 4*G*HD floats).
 */
template <int G, int HD, int NS>
__device__ __forceinline__ void attention_decode_mma_body(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                                          float* __restrict__ out, bf16_t* __restrict__ outb,
                                                          const int* __restrict__ meta, const unsigned long long* __restrict__ cacheBase,
                                                          int layer, int heads, int kvHeads, int window, float scale, float* __restrict__ partial,
                                                          const float* __restrict__ cosT, const float* __restrict__ sinT) {
    constexpr int TILE = 16, S = HD + 8, KSTEPS = HD / 16, DT = HD / 8, CH = HD / 8;   // S: a padded shared row (no bank conflicts)
    static_assert(G <= 8 && HD % 32 == 0, "query groups up to 8, head sizes a multiple of 32");
    extern __shared__ __align__(16) unsigned char dsm[];
    __shared__ float smax[4 * G], ssum[4 * G];
    bf16_t* kn = (bf16_t*) dsm;              // the fresh key (rotated) and value, as the cache will hold them
    bf16_t* vn = kn + HD;
    bf16_t* stages = vn + HD;                // [warp][NS][keys, values][TILE][S]
    float* sacc = (float*) stages;           // [warp][G][HD], after the last tile
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    int r = blockIdx.x, kvh = blockIdx.y;
    bool row = g < G;                        // lanes of rows g >= G hold zeros
    DecodeBlock b = decode_block(k, v, meta, cacheBase, layer, kvHeads, HD, window, cosT, sinT);
    for (int d = threadIdx.x; d < HD; d += blockDim.x) { kn[d] = f2bf(b.key(d)); vn[d] = f2bf(b.vf[d]); }

    unsigned qf[KSTEPS][4];                  // A fragments: rows g (bf16 q) and g + 8 (the remainder)
    {
        const float* qr = q + (long long) r * heads * HD + (long long) (kvh * G + (row ? g : 0)) * HD;
#pragma unroll
        for (int s = 0; s < KSTEPS; s++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int d = 16 * s + 8 * e + 2 * t;
                float x0 = row ? rope_at(qr, d, b.half, b.rc, b.rs) : 0.f, x1 = row ? rope_at(qr, d + 1, b.half, b.rc, b.rs) : 0.f;
                unsigned hi = pack_bf2(x0, x1);
                qf[s][2 * e] = hi;
                qf[s][2 * e + 1] = pack_bf2(x0 - lo16(hi), x1 - hi16(hi));
            }
    }
    __syncthreads();                         // kn, vn

    bf16_t* mine = stages + warp * NS * 2 * TILE * S;
    int tiles = (b.jEnd - b.jBeg + TILE - 1) / TILE, count = tiles > warp ? (tiles - warp + 3) / 4 : 0;
    // Tile i of this warp (keys j0 .. j0 + 15, j0 = jBeg + 16 (warp + 4i)) into stage i mod NS: cached keys by
    // cp.async, the fresh one from kn / vn, keys past the part as zeros (masked; zero values keep p * v finite).
    auto load = [&](int i) {
        int j0 = b.jBeg + TILE * (warp + 4 * i);
        bf16_t* ks = mine + (i % NS) * 2 * TILE * S;
        bf16_t* vs = ks + TILE * S;
        for (int c = lane; c < TILE * CH; c += 32) {
            int kk = c / CH, cc = c % CH, j = j0 + kk;
            if (j < b.jEnd && j < b.start) {
                long long at = (long long) (j % window) * b.kvDim + b.kvOff + 8 * cc;
                cp16(ks + kk * S + 8 * cc, b.ck + at);
                cp16(vs + kk * S + 8 * cc, b.cv + at);
            } else {
                uint4 kz = make_uint4(0u, 0u, 0u, 0u), vz = kz;
                if (j < b.jEnd) { kz = *(const uint4*) (kn + 8 * cc); vz = *(const uint4*) (vn + 8 * cc); }
                *(uint4*) (ks + kk * S + 8 * cc) = kz;
                *(uint4*) (vs + kk * S + 8 * cc) = vz;
            }
        }
    };
#pragma unroll
    for (int i = 0; i < NS - 1; i++) {
        if (i < count) load(i);
        cp_commit();                         // one group a tile, empty ones too: the wait below counts groups
    }
    float o[DT][4];
#pragma unroll
    for (int d = 0; d < DT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
    float mrow = NEG_INF, lrow = 0.f;        // head g's running max (log2 units of the scaled score) and this lane's share of the sum
    const float sl2 = scale * 1.4426950408889634f;
    // ldmatrix row addresses of this lane: keys (matrix lane/8 = dims +8 each), values (matrix bit 0: keys +8, bit 1: dims +8)
    const int kOff = (lane & 7) * S + 8 * (lane >> 3), vOff = ((lane & 7) + 8 * ((lane >> 3) & 1)) * S + 8 * (lane >> 4);
    for (int i = 0; i < count; i++) {
        __syncwarp();                        // every lane is done with the stage that tile i + NS - 1 takes
        if (i + NS - 1 < count) load(i + NS - 1);
        cp_commit();
        cp_wait<NS - 1>();                   // tile i is in
        __syncwarp();
        const bf16_t* ks = mine + (i % NS) * 2 * TILE * S;
        const bf16_t* vs = ks + TILE * S;
        float sc[2][4];
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
#pragma unroll
            for (int s = 0; s < KSTEPS; s += 2) {
                unsigned bb[4];
                ldm4(bb, ks + kOff + nt * 8 * S + 16 * s);
                mma16816(sc[nt], qf[s], bb[0], bb[1]);
                mma16816(sc[nt], qf[s + 1], bb[2], bb[3]);
            }
        }
        int j0 = b.jBeg + TILE * (warp + 4 * i);
        float x[4], mx = NEG_INF;
#pragma unroll
        for (int nt = 0; nt < 2; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int j = j0 + 8 * nt + 2 * t + e;
                float y = j < b.jEnd ? (sc[nt][e] + sc[nt][2 + e]) * sl2 : NEG_INF;
                x[2 * nt + e] = y;
                mx = fmaxf(mx, y);
            }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        float mNew = fmaxf(mrow, mx);        // finite: key j0 is in the part
        float c = exp2f(mrow - mNew);
        mrow = mNew;
        lrow *= c;
#pragma unroll
        for (int d = 0; d < DT; d++) { o[d][0] *= c; o[d][1] *= c; o[d][2] *= c; o[d][3] *= c; }
        unsigned a[4];
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            float p0 = exp2f(x[2 * nt] - mNew), p1 = exp2f(x[2 * nt + 1] - mNew);
            lrow += p0 + p1;
            unsigned hi = pack_bf2(p0, p1);
            a[2 * nt] = row ? hi : 0u;
            a[2 * nt + 1] = row ? pack_bf2(p0 - lo16(hi), p1 - hi16(hi)) : 0u;
        }
#pragma unroll
        for (int d = 0; d < DT; d += 2) {
            unsigned bb[4];
            ldm4t(bb, vs + vOff + 8 * d);
            mma16816(o[d], a, bb[0], bb[1]);
            mma16816(o[d + 1], a, bb[2], bb[3]);
        }
    }
    lrow += __shfl_xor_sync(0xffffffffu, lrow, 1);
    lrow += __shfl_xor_sync(0xffffffffu, lrow, 2);
    __syncthreads();                         // sacc reuses the stages
    if (row) {
#pragma unroll
        for (int d = 0; d < DT; d++) {
            float* at = sacc + (warp * G + g) * HD + 8 * d + 2 * t;
            at[0] = o[d][0] + o[d][2];
            at[1] = o[d][1] + o[d][3];
        }
        if (t == 0) {
            smax[warp * G + g] = count > 0 ? mrow * 0.6931471805599453f : NEG_INF;   // natural-log units, as emit_merged takes them
            ssum[warp * G + g] = count > 0 ? lrow : 0.f;
        }
    }
    __syncthreads();
    emit_merged<G>(sacc, smax, ssum, HD, kvh, heads, out, outb, partial);
}

// attention_decode_mma{NS}_{G}x{HD}: NS = 3 stages for every group and head size; 2 and 4 for the Mistral-7B shape (A/B).
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_1x32(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<1, 32, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_2x32(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<2, 32, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_4x32(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<4, 32, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_8x32(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<8, 32, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_1x64(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<1, 64, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_2x64(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<2, 64, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_4x64(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<4, 64, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_8x64(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<8, 64, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_1x128(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<1, 128, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_2x128(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<2, 128, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_4x128(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<4, 128, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma3_8x128(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<8, 128, 3>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma2_4x128(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<4, 128, 2>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
extern "C" __global__ void __launch_bounds__(128) attention_decode_mma4_4x128(const float* q, const float* k, const float* v, float* out, bf16_t* outb,
        const int* meta, const unsigned long long* cacheBase, int layer, int heads, int kvHeads, int window, float scale, float* partial, const float* cosT, const float* sinT) {
    attention_decode_mma_body<4, 128, 4>(q, k, v, out, outb, meta, cacheBase, layer, heads, kvHeads, window, scale, partial, cosT, sinT);
}
