package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.AttentionBatch.Segment;
import io.mistralflink.model.compute.RotaryTable;
import io.mistralflink.model.compute.cuda.CudaBackend.Act;
import org.bytedeco.javacpp.FloatPointer;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cuMemFree;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoD;

/**
 * Attention over the rolling caches and the rotary embedding on the device ({@code attention.cu}, {@code prefill.cu}):
 * per step the rows' metadata uploaded once, the rotary tables ({@link RotaryTable}) grown ahead of a step, the rotation
 * deferred into the decode kernels, and the choice of kernel by shape (tensor-core prefill, tensor-core or tiled decode,
 * the per-row kernel for every other head size). A kernel family of {@link CudaBackend}, which it serves.
 */
final class CudaAttention {
    private final CudaBackend cu;
    String decodeAttention;                   // auto | tiled2 | tiled4 | mma (tests switch it)
    boolean flashPrefill;                     // tests switch it
    boolean fusedPrefill;                     // likewise (CudaBackend.fusedPrefill)
    long fusedLaunches;                       // attentions the fused prefill path took (tests)
    private final String decodeFamily;        // tiledp | tiled (attention.cu)
    private final int attentionBlocksPerSm, attentionMaxSplits, attentionKeysPerSplit;
    private final Map<RopeKey, Rope> ropes = new HashMap<>();

    // per-step caches of uploaded inputs
    private AttentionBatch metaBatch;
    private long metaInts, metaBases;
    private int metaMaxKeys, metaGen = -1;
    /** Tiles of up to {@link #PREFILL_TILE} rows of one segment, {first row, rows} each, for the prefill kernel. */
    private long metaTiles;
    private int metaTileCount;
    private static final int PREFILL_TILE = 64;
    private int[] metaPositions = new int[0];   // row r's position, as the decode kernels rotate at it
    private int[] posRef, posCopy;
    private long posPtr;
    private int posGen = -1;

    CudaAttention(CudaBackend cu) {
        this.cu = cu;
        CudaTuning t = cu.tuning;
        attentionBlocksPerSm = t.attentionBlocksPerSm();
        attentionMaxSplits = t.attentionMaxSplits();
        attentionKeysPerSplit = t.attentionKeysPerSplit();
        decodeAttention = t.decodeAttention();
        decodeFamily = t.decodeFamily();
        flashPrefill = t.flashPrefill();
        fusedPrefill = t.fusedPrefill();
    }

    /** Rotary embeddings of q and k at positions (device copy pos, host copy hostPositions), not yet applied. */
    record Rotation(Act q, Act k, Rope rope, long pos, int[] hostPositions, int headDim) {}

    private record RopeKey(double theta, int headDim) {}

    /** A rotary table on the device, positions 0 .. cap-1 ({@link RotaryTable}, [position][headDim/2] each). */
    private static final class Rope {
        final RotaryTable table;
        long cos, sin;
        int cap;
        Rope(double theta, int headDim) { table = new RotaryTable(theta, headDim); }
    }

    /** Before a step whose positions reach maxEnd: the rotary tables cover them, the per-step uploads are stale. */
    void beginStep(int maxEnd) {
        for (Rope r : ropes.values()) ensureRope(r, maxEnd);
        metaBatch = null;
        posRef = null;
    }

    /** At close: the rotary tables' device copies. */
    void close() {
        for (Rope r : ropes.values()) { if (r.cap > 0) { cuMemFree(r.cos); cuMemFree(r.sin); } }
        ropes.clear();
    }

    /** Head sizes with a tensor-core prefill kernel ({@code attention_prefill_hdN} in prefill.cu). */
    static boolean flashHeadDim(int hd) { return hd == 32 || hd == 64 || hd == 80 || hd == 96 || hd == 128 || hd == 256; }

    /**
     * Deferred: the decode attention kernels rotate q and the fresh key as they read them, which saves a
     * launch per layer; any other reader of q or k (through {@link CudaBackend#act}) applies the rotation first.
     */
    void rotary(Activation q, Activation k, int headDim, int[] positions, double theta) {
        cu.bind();
        Act a = keepSplit(q), b = keepSplit(k);
        if (a.rows != positions.length || b.rows != positions.length)
            throw new IllegalArgumentException("rotary of " + a.rows + " and " + b.rows + " rows at " + positions.length + " positions");
        cu.ensureZero(a);
        cu.ensureZero(b);
        Rope rope = ropes.computeIfAbsent(new RopeKey(theta, headDim), key -> new Rope(theta, headDim));
        int max = 0;
        for (int p : positions) max = Math.max(max, p);
        ensureRope(rope, max + 1);
        a.rotation = b.rotation = new Rotation(a, b, rope, positions(positions), positions.clone(), headDim);
        CudaBackend.written(a);
        CudaBackend.written(b);
    }

    /** q or k to rotate: a rotation already pending is applied first (which splits a stacked GEMM's rows), else a pending split stays. */
    private Act keepSplit(Activation x) {
        Act a = cu.live(x);
        return a.rotation != null ? cu.act(x) : a;
    }

    void rotate(Rotation r) {
        r.q.rotation = r.k.rotation = null;
        long pairs = (long) r.q.rows * (r.q.cols / 2 + r.k.cols / 2);
        cu.k("rotary", (int) ((pairs + 255) / 256), 1, 1, 256, 0, r.q.f32, r.k.f32, r.rope.cos, r.rope.sin, r.pos, r.q.rows, r.q.cols, r.k.cols, r.headDim);
    }

    private long positions(int[] positions) {
        if (positions == posRef && posGen == cu.pool.generation() && cu.inStep && Arrays.equals(positions, posCopy)) return posPtr;
        posPtr = cu.uploadInts(positions);
        posRef = positions;
        posCopy = positions.clone();
        posGen = cu.pool.generation();
        return posPtr;
    }

    private void ensureRope(Rope r, int need) {
        if (need <= r.cap) return;
        if (cu.stream.mode() != Stream.Mode.EAGER) cu.stream.syncPoint();
        int cap = Math.max(need, Math.max(r.cap * 2, 4096)), half = r.table.half();
        float[] c = new float[cap * half], s = new float[cap * half];
        r.table.fill(0, cap, c, s, 0);
        long cp = Cuda.malloc(4L * c.length), sp = Cuda.malloc(4L * s.length);
        try (FloatPointer fc = new FloatPointer(c); FloatPointer fs = new FloatPointer(s)) {
            check(cuMemcpyHtoD(cp, fc, 4L * c.length), "rope table");
            check(cuMemcpyHtoD(sp, fs, 4L * s.length), "rope table");
        }
        if (r.cap > 0) {
            cu.freeLater(r.cos);
            cu.freeLater(r.sin);
            cu.stream.invalidateGraphs();
        }
        r.cos = cp;
        r.sin = sp;
        r.cap = cap;
    }

    void attention(Activation q, Activation k, Activation v, Activation out, AttentionBatch b, int layer) {
        cu.bind();
        if (fusedPrefill && fused(q, k, v, out, b, layer)) return;
        Rotation rot = ((Act) q).rotation;
        if (rot != null && (rot.q != q || rot.k != k)) rot = null;   // not q and k's own: cu.act() applies it
        if (rot != null) rot.q.rotation = rot.k.rotation = null;
        Act qa = cu.act(q), ka = cu.act(k), va = cu.act(v), o = cu.act(out);
        cu.ensureZero(qa);
        cu.ensureZero(ka);
        cu.ensureZero(va);
        prepareMeta(b);
        int rows = qa.rows, heads = b.heads(), hd = b.headDim();
        boolean decodeOnly = true;
        for (Segment sg : b.segments()) decodeOnly &= sg.length() == 1;
        boolean flash = !decodeOnly && flashPrefill && flashHeadDim(hd);
        int group = heads / b.kvHeads(), lanes = hd / 32;
        // Decode: a block per (row, key/value head) serves the whole query group; each warp takes tiles of 32/L
        // keys, L lanes scoring a key (H200, 7B shape, device time of a step: L = 4 0.4-0.8% faster than L = 2 at batch
        // 16 and 64, L = 2 0.5% faster at 256).
        int tiledLanes = switch (decodeAttention) {
            case "tiled2" -> 2;
            case "tiled4" -> 4;
            default -> (long) rows * b.kvHeads() < 4L * cu.sms ? 4 : 2;
        };
        int decodeSmem = (group + 2) * hd * 4 + Math.max(4 * (32 / tiledLanes) * hd * 2, 4 * group * hd * 4);   // value tiles, then partial sums
        boolean grouped = decodeOnly && heads % b.kvHeads() == 0 && Integer.bitCount(group) == 1 && group <= 8
                && hd % 32 == 0 && Integer.bitCount(lanes) == 1 && lanes <= 8 && decodeSmem <= 48 << 10;
        // Long windows: the query group as the rows of a tensor-core product, several key tiles a warp in flight (attention.cu)
        boolean mma = grouped && (hd == 32 || hd == 64 || hd == 128)
                && (decodeAttention.equals("mma") || decodeAttention.equals("auto") && metaMaxKeys >= cu.tuning.mmaDecodeKeys());
        int stages = cu.tuning.decodeStages(), mmaSmem = 2 * hd * 2 + 4 * stages * 2 * 16 * (hd + 8) * 2;   // fresh key and value, stages
        // Few blocks (small decode batches): each also takes one of `splits` equal parts of its row's keys, so
        // that every SM works and each block's chain of dependent loads is short. The count depends on the
        // batch's shape alone, so decode steps issue equal commands at every position (graphs).
        long base = (long) rows * (grouped ? b.kvHeads() : heads);
        // long rows: twice the blocks (H200, 7B, batch 32 after 4,096-token prompts: 2,486 against 2,313 tok/s; at 128 keys
        // more blocks cost batch 64 7%)
        long want = (long) (metaMaxKeys >= 1024 ? 2 : 1) * attentionBlocksPerSm * cu.sms;
        int splits = !flash && metaMaxKeys > 32 && base < want ? (int) Math.min(attentionMaxSplits, (want + base - 1) / base) : 1;
        // the tensor-core kernel: about mmaBlocksPerSm blocks an SM in all (its shared stages allow two an SM), so long parts
        if (mma) splits = (int) Math.max(1, Math.min(attentionMaxSplits, (long) cu.tuning.mmaBlocksPerSm() * cu.sms / base));
        // at least attentionKeysPerSplit keys a part, counted from the row's keys rounded up to a power of two (launches change rarely)
        splits = Math.max(1, Math.min(splits, Integer.highestOneBit(Math.max(1, metaMaxKeys - 1)) * 2 / attentionKeysPerSplit));
        long partial = splits > 1 ? cu.scratch(4L * rows * heads * splits * (hd + 2)) : 0;
        long ob = cu.bf16Buffer(o);
        float scale = (float) (1.0 / Math.sqrt(hd));
        if (rot != null && !(grouped && rot.headDim == hd && Arrays.equals(rot.hostPositions, metaPositions))) {
            rotate(rot);
            rot = null;
        }
        if (flash) {
            // Prefill: a block per (query head, tile of up to 64 rows of one segment), keys in shared-memory tiles, tensor cores.
            cu.k("attention_prefill_hd" + hd, heads, metaTileCount, 1, 128, 0, qa.f32, cu.bf16Of(ka), cu.bf16Of(va), o.f32, ob, metaInts, metaBases,
                    metaTiles, layer, heads, b.kvHeads(), b.window(), Stream.f(scale));
        } else if (grouped) {
            if (mma) cu.k("attention_decode_mma" + stages + "_" + group + "x" + hd, rows, b.kvHeads(), splits, 128, mmaSmem, qa.f32, ka.f32, va.f32, o.f32, ob,
                    metaInts, metaBases, layer, heads, b.kvHeads(), b.window(), Stream.f(scale), partial,
                    rot == null ? 0 : rot.rope.cos, rot == null ? 0 : rot.rope.sin);
            else cu.k("attention_decode_" + decodeFamily + tiledLanes + "_" + group + "x" + lanes, rows, b.kvHeads(), splits, 128, decodeSmem, qa.f32, ka.f32, va.f32, o.f32, ob,
                    metaInts, metaBases, layer, heads, b.kvHeads(), b.window(), Stream.f(scale), partial,
                    rot == null ? 0 : rot.rope.cos, rot == null ? 0 : rot.rope.sin);
        } else {
            // a row of up to 256 keys in one tile; head sizes above 256 accumulate in shared memory (attention.cu)
            int block = metaMaxKeys > 128 && splits == 1 ? 256 : 128;
            cu.k("attention", rows, heads, splits, block, 4 * (hd + block + 32 + (block / 32) * hd), qa.f32, ka.f32, va.f32, o.f32, ob, metaInts, metaBases,
                    layer, heads, b.kvHeads(), hd, b.window(), Stream.f(scale), partial, decodeOnly ? 1 : 0);
        }
        if (splits > 1) cu.k("attention_combine", rows, heads, 1, Math.max(128, hd), 0, partial, o.f32, ob, heads, hd, splits);
        o.zeroPending = false;
        o.bfValid = true;
        if (!decodeOnly) cu.k("kv_store", rows, 1, 1, 256, 0, ka.f32, va.f32, metaInts, metaBases, layer, b.kvHeads() * hd, b.window());
    }

    /**
     * The fused prefill path, where it applies (q, k and v still in their stacked GEMM's rows, q and k's rotation pending, a
     * tensor-core prefill kernel for the head size, a step that is not all decode): one kernel takes q, k and v from the GEMM's
     * rows, rotates q and k and rounds the three to bf16 ({@code qkv_rotary_bf16}: the unfused path's roundings, up to the rotation's last
     * bit, which ptxas may contract differently), the
     * prefill kernel reads q in bf16, the fresh keys and values enter the cache from their bf16 rows. Returns false where it
     * does not apply, the usual path then running.
     */
    private boolean fused(Activation q, Activation k, Activation v, Activation out, AttentionBatch b, int layer) {
        Act qa = cu.live(q), ka = cu.live(k), va = cu.live(v);
        CudaMatmul.Split sp = qa.split;
        Rotation rot = qa.rotation;
        int hd = b.headDim(), heads = b.heads();
        boolean decodeOnly = true;
        for (Segment sg : b.segments()) decodeOnly &= sg.length() == 1;
        if (sp == null || sp.parts().length != 3 || sp.parts()[0] != qa || sp.parts()[1] != ka || sp.parts()[2] != va
                || rot == null || rot.q != qa || rot.k != ka || rot.headDim != hd || hd % 4 != 0 || decodeOnly || !flashPrefill
                || !flashHeadDim(hd) || qa.cols != heads * hd || ka.cols != b.kvHeads() * hd || va.cols != ka.cols) return false;
        Act o = cu.act(out);
        prepareMeta(b);
        qa.rotation = ka.rotation = null;
        for (Act x : sp.parts()) x.split = null;
        long qb = cu.bf16Buffer(qa), kb = cu.bf16Buffer(ka), vb = cu.bf16Buffer(va);
        cu.k("qkv_rotary_bf16", qa.rows, 1, 1, 256, 0, sp.wide(), qb, kb, vb, rot.rope.cos, rot.rope.sin, rot.pos, qa.cols, ka.cols, hd);
        cu.k("attention_prefill_qb_hd" + hd, heads, metaTileCount, 1, 128, 0, qb, kb, vb, o.f32, cu.bf16Buffer(o), metaInts, metaBases,
                metaTiles, layer, heads, b.kvHeads(), b.window(), Stream.f((float) (1.0 / Math.sqrt(hd))));
        o.zeroPending = false;
        o.bfValid = true;
        cu.k("kv_store_bf16", qa.rows, 1, 1, 256, 0, kb, vb, metaInts, metaBases, layer, ka.cols, b.window());
        cu.releaseSplit(sp);
        qa.consumed = ka.consumed = va.consumed = true;
        fusedLaunches++;
        return true;
    }

    /** Per-row attention metadata of a batch, uploaded once per step. */
    private void prepareMeta(AttentionBatch b) {
        if (b == metaBatch && metaGen == cu.pool.generation() && cu.inStep) return;
        int rows = 0;
        for (Segment s : b.segments()) rows = Math.max(rows, s.offset() + s.length());
        int[] meta = new int[rows * 6];
        long[] bases = new long[rows];
        int maxKeys = 0, tileCount = 0;
        boolean decodeOnly = true;
        for (Segment s : b.segments()) {
            tileCount += (s.length() + PREFILL_TILE - 1) / PREFILL_TILE;
            decodeOnly &= s.length() == 1;
        }
        int[] tiles = new int[2 * tileCount];
        int ti = 0;
        for (Segment s : b.segments()) {
            for (int i = 0; i < s.length(); i += PREFILL_TILE) {
                tiles[ti++] = s.offset() + i;
                tiles[ti++] = Math.min(PREFILL_TILE, s.length() - i);
            }
            DeviceKvCache c = (DeviceKvCache) s.cache();
            if (c.window != b.window()) throw new IllegalArgumentException("cache window " + c.window + " != batch window " + b.window());
            c.reserve(s.start() + s.length());
            for (int i = 0; i < s.length(); i++) {
                int r = s.offset() + i, pos = s.start() + i;
                meta[r * 6] = pos;
                meta[r * 6 + 1] = s.start();
                meta[r * 6 + 2] = s.offset();
                meta[r * 6 + 3] = s.length();
                meta[r * 6 + 4] = c.cap;
                bases[r] = c.base;
                maxKeys = Math.max(maxKeys, Math.min(b.window(), pos + 1));
            }
        }
        metaPositions = new int[rows];
        for (int r = 0; r < rows; r++) metaPositions[r] = meta[r * 6];
        metaInts = cu.uploadInts(meta);
        metaBases = cu.uploadLongs(bases);
        metaTiles = decodeOnly ? 0 : cu.uploadInts(tiles);
        metaTileCount = tileCount;
        metaMaxKeys = maxKeys;
        metaBatch = b;
        metaGen = cu.pool.generation();
    }
}
