package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.AttentionBatch;
import io.mistralflink.model.compute.AttentionBatch.Segment;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Backends;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.ShortPointer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.*;

/**
 * The CUDA backend: the same {@link Backend} operations on an NVIDIA GPU, through the JavaCPP CUDA
 * presets (driver API, cuBLAS, NVRTC).
 *
 * <p>Precision: weight matrices live on the device in bf16 (BF16 checkpoints are uploaded as stored;
 * F16 and F32 ones are rounded to bf16 at upload, to nearest even); norm gains stay fp32.
 * Activations (the residual stream, norms, rotary, softmax, SwiGLU) are fp32. A matmul rounds its
 * input rows to bf16 and multiplies with fp32 accumulation and fp32 output (cuBLAS {@code
 * cublasGemmEx}, bf16 x bf16 -> fp32, {@code CUBLAS_COMPUTE_32F}; for one row, a GEMV kernel with the
 * same roundings). The rolling KV caches hold bf16. Rotary angles are the CPU backend's own fp32 values
 * (tables computed on the host). So logits differ from the CPU engine (fp32 activations throughout) by
 * the rounding of matmul inputs and cached keys/values to bf16: see the GPU tests for the tolerance.
 *
 * <p>Memory: activations come from a per-step pool ({@link DevicePool}); layers {@link #release} their
 * temporaries, so a step needs about one layer's working set. Outside a {@link #step} activations get
 * their own allocations, freed on release or close. KV caches are per-sequence device allocations.
 *
 * <p>Mixture of experts: the routing is computed and kept on the device ({@code moe.cu}). Up to
 * {@code mistralflink.cuda.moeGemvPairs} (8) (row, expert) pairs, the experts' matmuls are one grouped
 * GEMV launch that reads each expert's block of pairs from device memory (experts without pairs read no
 * weights), so a Mixtral decode step up to batch 4 at top 2 needs no read-back and is graphed; beyond,
 * the per-expert offsets are read back once per layer and each expert's block is one cuBLAS GEMM (on the
 * H200 at batch 32 that is 31 ms a step against 71 ms for the GEMV, which re-reads its inputs per row).
 *
 * <p>Every piece of device work goes through one {@link Stream}; a decode step of a shape seen before is
 * replayed as CUDA graphs, launched in segments as the host issues them (disable with
 * {@code -Dmistralflink.cuda.graphs=false}).
 *
 * <p>Sampling (greedy, temperature, top-k, top-p, min-p) runs on the device with the host {@code Sampler}'s
 * draw for each row's (seed, step): only token ids are read back, never logits.
 */
public final class CudaBackend implements Backend {
    private final int ordinal;
    private final CUctx_st ctx = new CUctx_st();
    private final String deviceName, arch;
    final int sms;
    private final Kernels kernels;
    final Stream stream;
    private final CudaSampling sampling = new CudaSampling(this);
    private final CudaMoe moe = new CudaMoe(this);
    private final CudaAttention attn;   // after tuning, which it reads
    private final CudaMatmul mm;        // likewise
    private final CudaElementwise ew;   // likewise
    final DevicePool pool;
    private final Staging staging;
    /** The context each thread last made current, over every backend of the JVM (one per GPU a stage uses). */
    private static final ThreadLocal<CUctx_st> CURRENT = new ThreadLocal<>();
    final CudaTuning tuning;
    private final List<Long> deferredFrees = new ArrayList<>();
    final List<Long> weights = new ArrayList<>();
    private final Map<Tensor, CudaWeight> uploaded = new IdentityHashMap<>();
    private final java.util.Set<Act> loose = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private Pointer readback;
    private long readbackBytes;
    boolean inStep, closed;
    /** See {@link CudaTuning#bf16MatmulInputs}; tests and benchmarks switch it. */
    boolean bf16MatmulInputs;
    private Long syntheticSeed;
    private long weightBytes;
    private final double memoryBandwidth;

    record CudaWeight(long ptr, int rows, int cols, boolean vector) implements Weight {}

    /** A rows x cols fp32 matrix on the device, plus (on demand) its bf16 rounding. */
    static final class Act implements Activation {
        final int rows, cols;
        final long f32;
        long bf16;
        boolean bfValid, zeroPending = true, released;
        /** A rotary embedding asked for and not yet applied (see {@link #rotary}). */
        CudaAttention.Rotation rotation;
        /** Still in a stacked GEMM's rows (see {@link CudaMatmul.Split}). */
        CudaMatmul.Split split;
        /** Read straight from those rows by the fused prefill attention, its own buffer never written: no further reads. */
        boolean consumed;
        /** Only the bf16 rounding was written ({@code bf16MatmulInputs}): an fp32 read converts it first. */
        boolean f32Stale;
        final int gen;
        final boolean loose;
        Act(int rows, int cols, long f32, int gen, boolean loose) {
            this.rows = rows; this.cols = cols; this.f32 = f32; this.gen = gen; this.loose = loose;
        }
        public int rows() { return rows; }
        public int cols() { return cols; }
        long elems() { return (long) rows * cols; }
    }

    /** The GPUs the driver sees; throws (as {@link #open} does) where CUDA is unusable. */
    public static int deviceCount() {
        check(cuInit(0), "cuInit");
        int[] count = new int[1];
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        return count[0];
    }

    private CudaBackend(int ordinal) {
        this.ordinal = ordinal;
        int count = deviceCount();
        if (count == 0) throw new Cuda.CudaException("no CUDA device");
        if (ordinal < 0 || ordinal >= count) throw new Cuda.CudaException("cuda:" + ordinal + " does not exist (" + count + " devices)");
        int[] dev = new int[1];
        check(cuDeviceGet(dev, ordinal), "cuDeviceGet");
        check(cuDevicePrimaryCtxRetain(ctx, dev[0]), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        CURRENT.set(ctx);
        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, dev[0]), "cuDeviceGetName");
        int n = 0;
        while (n < name.length && name[n] != 0) n++;
        deviceName = new String(name, 0, n);
        int[] major = new int[1], minor = new int[1], smCount = new int[1];
        check(cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev[0]), "compute capability");
        check(cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev[0]), "compute capability");
        check(cuDeviceGetAttribute(smCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev[0]), "multiprocessor count");
        arch = "sm_" + major[0] + minor[0];
        sms = smCount[0];
        int[] memKhz = new int[1], busBits = new int[1];
        check(cuDeviceGetAttribute(memKhz, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, dev[0]), "memory clock");
        check(cuDeviceGetAttribute(busBits, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, dev[0]), "memory bus width");
        memoryBandwidth = 2.0 * memKhz[0] * 1e3 * busBits[0] / 8;   // two transfers a clock
        kernels = new Kernels(arch);
        tuning = CudaTuning.fromSystemProperties();
        stream = new Stream(tuning.graphs(), tuning.graphSegment());
        pool = new DevicePool(256L << 20);
        staging = new Staging(4L << 20);
        attn = new CudaAttention(this);
        mm = new CudaMatmul(this);
        ew = new CudaElementwise(this);
        bf16MatmulInputs = tuning.bf16MatmulInputs();
    }

    /** Opens device {@code ordinal}; throws (UnsatisfiedLinkError, NoClassDefFoundError, CudaException) where CUDA is unusable. */
    public static CudaBackend open(int ordinal) { return new CudaBackend(ordinal); }

    @Override public String name() {
        return "cuda:" + ordinal + " (" + deviceName + ", " + arch + ", " + sms + " SMs, bf16 weights, cuBLAS + NVRTC)";
    }

    public String deviceName() { return deviceName; }

    /** Steps of {@link Backends#GPU_STEP_TOKENS} tokens ({@code -Dmistralflink.cuda.stepTokens} to change). */
    @Override public int stepTokens() { return tuning.stepTokens(); }

    /**
     * For benchmarks: while set, {@link #weight} ignores a tensor's bytes and fills the device copy with
     * uniform random bf16 in +-1/sqrt(in features) (norm gains: 1), generated on the device from this
     * seed and the tensor's name, so a model of any size needs no host memory for its weights.
     */
    public void syntheticWeights(Long seed) { this.syntheticSeed = seed; }

    public long weightBytes() { return weightBytes; }

    /** From the memory's clock and bus width (H200: 4.9 TB/s). */
    @Override public double memoryBandwidth() { return memoryBandwidth; }

    /** Kernel launches, graph launches and graph captures so far; the host and device time of a replayed step. */
    /** Starts the replay timings of {@link #counters} afresh. */
    public void resetReplayTimings() { stream.replayHostNanos = stream.replayDeviceNanos = stream.replays = 0; }

    public String counters() {
        return "launches=" + stream.launches + " graphLaunches=" + stream.graphLaunches + " captures=" + stream.captures
                + String.format(" replay: host %.1f us, device %.1f us", stream.replays == 0 ? 0.0 : stream.replayHostNanos / 1e3 / stream.replays,
                        stream.replays == 0 ? 0.0 : stream.replayDeviceNanos / 1e3 / stream.replays);
    }

    void bind() {
        if (closed) throw new IllegalStateException("CUDA backend closed");
        if (CURRENT.get() != ctx) {
            check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            CURRENT.set(ctx);
        }
    }

    // ---------------------------------------------------------------- memory

    long scratch(long bytes) {
        if (inStep) return pool.alloc(bytes);
        long p = Cuda.malloc(bytes);
        deferredFrees.add(p);
        return p;
    }

    void freeLater(long p) { deferredFrees.add(p); }

    private void freeDeferred() {
        for (long p : deferredFrees) cuMemFree(p);
        deferredFrees.clear();
    }

    /** An activation to read: its pending split ({@link CudaMatmul.Split}) and rotation ({@link #rotary}) applied first. */
    Act act(Activation a) {
        Act x = live(a);
        if (x.f32Stale) {
            k("from_bf16", grid(x.elems()), 1, 1, 256, 0, x.bf16, x.f32, x.elems());
            x.f32Stale = false;
        }
        if (x.split != null) mm.splitColumns(x.split);
        if (x.rotation != null) attn.rotate(x.rotation);
        return x;
    }

    /** A matmul's input, which reads only the bf16 rounding: one kept in bf16 alone is not converted to fp32. */
    Act matmulInput(Activation a) {
        Act x = live(a);
        return x.f32Stale && x.bfValid ? x : act(a);
    }

    /** Whether an activation of this many rows, which only matmuls read, is kept in bf16 alone ({@code bf16MatmulInputs}). */
    boolean bf16Only(int rows) { return bf16MatmulInputs && rows > 32; }

    /** An activation that may still be used, nothing pending applied. */
    Act live(Activation a) {
        Act x = (Act) a;
        if (x.released) throw new IllegalStateException("activation used after release()");
        if (!x.loose && x.gen != pool.generation()) throw new IllegalStateException("activation used after its step closed");
        if (x.consumed) throw new IllegalStateException("q, k or v read after the fused prefill attention consumed it");
        return x;
    }

    void ensureZero(Act a) {
        if (a.zeroPending) {
            stream.memsetZero(a.f32, a.elems());
            a.zeroPending = false;
        }
    }

    long bf16Buffer(Act a) {
        if (a.bf16 == 0) a.bf16 = a.loose ? Cuda.malloc(a.elems() * 2) : pool.alloc(a.elems() * 2);
        return a.bf16;
    }

    /** The bf16 rounding of a, converting if it is stale. */
    long bf16Of(Act a) {
        ensureZero(a);
        long p = bf16Buffer(a);
        if (!a.bfValid) {
            long n = a.elems();
            k("to_bf16", grid(n), 1, 1, 256, 0, a.f32, p, n);
            a.bfValid = true;
        }
        return p;
    }

    static void written(Act a) { a.zeroPending = false; a.bfValid = false; a.f32Stale = false; }

    int grid(long n) { return (int) Math.max(1, Math.min((n + 255) / 256, (long) sms * 16)); }

    void k(String name, int gx, int gy, int gz, int bx, int smem, long... args) {
        Kernels.Kernel kn = kernels.get(name);
        if (smem > 48 << 10) kernels.allowSharedMemory(kn, smem);
        if (args.length != kn.arity()) throw new IllegalArgumentException("kernel " + name + " takes " + kn.arity() + " arguments, given " + args.length);
        stream.launch(kn.f(), name, gx, gy, gz, bx, smem, args);
    }

    long uploadInts(int[] data) {
        long dst = scratch(4L * data.length);
        stream.copyIn(dst, staging.put(data), 4L * data.length);
        afterUpload();
        return dst;
    }

    long uploadLongs(long[] data) {
        long dst = scratch(8L * data.length);
        stream.copyIn(dst, staging.put(data), 8L * data.length);
        afterUpload();
        return dst;
    }

    /** Outside a step, staging is recycled at once. */
    private void afterUpload() {
        if (!inStep) {
            stream.synchronize();
            if (staging.reset()) stream.invalidateGraphs();
        }
    }

    Pointer readback(long bytes) {
        if (bytes > readbackBytes) {
            if (readback != null) cuMemFreeHost(readback);
            PointerPointer<Pointer> pp = new PointerPointer<>(1);
            readbackBytes = Math.max(bytes, 1 << 20);
            check(cuMemAllocHost(pp, readbackBytes), "cuMemAllocHost");
            readback = pp.get(0).capacity(readbackBytes);
        }
        return readback;
    }

    // ---------------------------------------------------------------- Backend

    @Override public Weight weight(Tensor stored) {
        bind();
        CudaWeight w = uploaded.get(stored);
        if (w != null) return w;
        if (stored.shape().length == 1) {
            int n = stored.rows();
            float[] v = new float[n];
            if (syntheticSeed != null) Arrays.fill(v, 1f);
            else v = stored.toFloats();
            long p = Cuda.malloc(4L * n);
            try (FloatPointer fp = new FloatPointer(v)) { check(cuMemcpyHtoD(p, fp, 4L * n), "upload " + stored.name()); }
            w = new CudaWeight(p, n, 1, true);
            weightBytes += 4L * n;
        } else {
            long p = Cuda.malloc(2L * stored.rows() * stored.cols());
            w = upload(stored, p);
        }
        weights.add(w.ptr());
        uploaded.put(stored, w);
        return w;
    }

    /** Matrices of one width in one allocation, in order: matmul runs them as one cuBLAS GEMM. */
    @Override public Weight[] weights(Tensor... stored) {
        bind();
        boolean stack = stored.length > 1;
        long bytes = 0;
        for (Tensor t : stored) {
            stack &= t.shape().length == 2 && t.cols() == stored[0].cols() && !uploaded.containsKey(t);
            bytes += 2L * t.rows() * t.cols();
        }
        if (!stack) return Backend.super.weights(stored);
        long base = Cuda.malloc(bytes), at = base;
        Weight[] out = new Weight[stored.length];
        for (int i = 0; i < stored.length; i++) {
            CudaWeight w = upload(stored[i], at);
            uploaded.put(stored[i], w);
            out[i] = w;
            at += 2L * w.rows() * w.cols();
        }
        weights.add(base);
        return out;
    }

    /** Matrix {@code stored} into device memory at p, as bf16. */
    private CudaWeight upload(Tensor stored, long p) {
        int rows = stored.rows(), cols = stored.cols();
        long count = (long) rows * cols, bytes = count * 2;
        if (syntheticSeed != null) {
            k("fill_random_bf16", grid(count), 1, 1, 256, 0, p, count, syntheticSeed ^ ((long) stored.name().hashCode() << 20),
                    Stream.f((float) (1.0 / Math.sqrt(cols))));
        } else if (stored.dtype() == DType.BF16) {
            MemorySegment seg = stored.data();
            if (seg.isNative()) {
                check(cuMemcpyHtoD(p, new Cuda.Addr(seg.address()), bytes), "upload " + stored.name());
            } else {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment copy = a.allocate(bytes, 64);
                    copy.copyFrom(seg);
                    check(cuMemcpyHtoD(p, new Cuda.Addr(copy.address()), bytes), "upload " + stored.name());
                }
            }
        } else {
            // F16 / F32 checkpoints: rounded to bf16 on the host, a slice at a time.
            int slice = 1 << 22;
            short[] buf = new short[slice];
            try (ShortPointer sp = new ShortPointer(slice)) {
                for (long from = 0; from < count; from += slice) {
                    int n = (int) Math.min(slice, count - from);
                    for (int i = 0; i < n; i++) buf[i] = toBf16(stored.get(from + i));
                    sp.put(buf, 0, n);
                    check(cuMemcpyHtoD(p + from * 2, sp, 2L * n), "upload " + stored.name());
                }
            }
        }
        weightBytes += bytes;
        return new CudaWeight(p, rows, cols, false);
    }

    static short toBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 0x40);
        u += 0x7fff + ((u >>> 16) & 1);
        return (short) (u >>> 16);
    }

    @Override public Activation allocate(int rows, int cols) {
        bind();
        long bytes = 4L * rows * cols;
        if (inStep) return new Act(rows, cols, pool.alloc(bytes), pool.generation(), false);
        Act a = new Act(rows, cols, Cuda.malloc(bytes), 0, true);
        loose.add(a);
        return a;
    }

    @Override public void release(Activation... done) {
        for (Activation d : done) {
            Act a = (Act) d;
            if (a == null || a.released) continue;
            a.released = true;
            if (a.loose) {
                loose.remove(a);
                freeLater(a.f32);
                if (a.bf16 != 0) freeLater(a.bf16);
            } else if (a.gen == pool.generation()) {
                pool.release(a.f32, a.elems() * 4);
                if (a.bf16 != 0) pool.release(a.bf16, a.elems() * 2);
            }
        }
    }

    @Override public Activation upload(float[] host, int rows, int cols) {
        if (host.length != rows * cols) throw new IllegalArgumentException("expected " + rows + "x" + cols + " floats, got " + host.length);
        Act a = (Act) allocate(rows, cols);
        stream.copyIn(a.f32, staging.put(host), 4L * host.length);
        afterUpload();
        written(a);
        return a;
    }

    @Override public float[] download(Activation activation) {
        bind();
        Act a = act(activation);
        ensureZero(a);
        stream.syncPoint();
        long bytes = a.elems() * 4;
        Pointer host = readback(bytes);
        check(cuMemcpyDtoHAsync(host, a.f32, bytes, stream.stream), "cuMemcpyDtoHAsync");
        stream.synchronize();
        float[] out = new float[(int) a.elems()];
        host.capacity(bytes).asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
        return out;
    }

    /** On the device ({@code sampling.cu}): the host Sampler's draws, and only token ids come back. */
    @Override public int[] sample(Activation logits, SamplingParams[] params, int[] steps) { return sampling.sample(logits, params, steps); }

    @Override public KvCache kvCache(int layers, int window, int kvDim) {
        bind();
        return new DeviceKvCache(this, layers, window, kvDim);
    }

    void growCache(long from, long to, int oldCap, int newCap, DeviceKvCache c) {
        // Issued eagerly: caches grow before a step's commands are recorded.
        k("kv_grow", 2 * c.layers, 1, 1, 256, 0, from, to, oldCap, newCap, c.kvDim);
    }

    @Override public Step step(AttentionBatch batch) {
        bind();
        if (inStep) throw new IllegalStateException("steps do not nest");
        stream.synchronize();
        freeDeferred();
        boolean moved = pool.reset();
        moved |= staging.reset();
        if (moved) stream.invalidateGraphs();
        int maxEnd = 0;
        for (Segment s : batch.segments()) {
            ((DeviceKvCache) s.cache()).reserve(s.start() + s.length());
            maxEnd = Math.max(maxEnd, s.start() + s.length());
        }
        attn.beginStep(maxEnd);
        inStep = true;
        stream.beginStep(shapeKey(batch));
        return this::endStep;
    }

    private void endStep() {
        try {
            stream.endStep();
        } finally {
            inStep = false;
        }
    }

    /** Steps with the same segment lengths issue the same commands (up to per-step inputs in staging). */
    private static String shapeKey(AttentionBatch b) {
        StringBuilder sb = new StringBuilder();
        int prev = -1, run = 0;
        for (Segment s : b.segments()) {
            if (s.length() == prev) { run++; continue; }
            if (run > 0) sb.append(prev).append('x').append(run).append(',');
            prev = s.length();
            run = 1;
        }
        if (run > 0) sb.append(prev).append('x').append(run);
        return sb.toString();
    }

    // ---------------------------------------------------------------- elementwise (CudaElementwise)

    @Override public void embed(Weight table, int[] ids, Activation out) { ew.embed(table, ids, out); }

    @Override public void rmsNorm(Activation x, Weight gain, float eps, Activation out) { ew.rmsNorm(x, gain, eps, out); }

    @Override public void addRmsNorm(Activation acc, Activation x, Weight gain, float eps, Activation out) { ew.addRmsNorm(acc, x, gain, eps, out); }

    @Override public void siluMul(Activation gate, Activation up) { ew.siluMul(gate, up); }

    @Override public void add(Activation acc, Activation x) { ew.add(acc, x); }

    @Override public void gatherRows(Activation x, int[] rows, Activation out) { ew.gatherRows(x, rows, out); }

    // ---------------------------------------------------------------- matmuls (CudaMatmul)

    @Override public void matmul(Activation x, Weight weight, Activation out) { mm.matmul(x, new Weight[]{weight}, new Activation[]{out}); }

    @Override public void matmul(Activation x, Weight[] weights, Activation[] outs) { mm.matmul(x, weights, outs); }

    @Override public void swiGlu(Activation x, Weight gate, Weight up, Activation out) { mm.swiGlu(x, gate, up, out); }

    /** A stacked GEMM's rows, read by the fused prefill attention, back to the pool. */
    void releaseSplit(CudaMatmul.Split sp) { mm.release(sp); }

    /** out = x W^T for m rows of bf16 x: see {@link CudaMatmul#gemm}. */
    void gemm(int m, CudaWeight w, long xb, long out) { mm.gemm(m, w, xb, out); }

    /** For tests: the tensor-core path for up to this many rows (0: off, the GEMV and cuBLAS as before). */
    void mmaGemmRows(int rows) { mm.mmaGemmRows = rows; }

    /** For tests: SwiGLU's stacked GEMM with bf16 output beyond 32 rows ({@code -Dmistralflink.cuda.bf16SwiGlu}). */
    void bf16SwiGlu(boolean on) { mm.bf16SwiGlu = on; }

    /** For tests and benchmarks: SwiGLU by rows ({@code -Dmistralflink.cuda.rowSwiGlu}). */
    public void rowSwiGlu(boolean on) { mm.rowSwiGlu = on; }

    /** For tests and benchmarks: the fused prefill q/k/v path ({@code -Dmistralflink.cuda.fusedPrefill}). */
    public void fusedPrefill(boolean on) { mm.deferSplit = on; attn.fusedPrefill = on; }

    /** For tests and benchmarks: the norms' and SwiGLU's outputs in bf16 alone ({@code -Dmistralflink.cuda.bf16MatmulInputs}). */
    public void bf16MatmulInputs(boolean on) { bf16MatmulInputs = on; }

    /** For tests and benchmarks: RMSNorm by float4s beyond 32 rows ({@code -Dmistralflink.cuda.rowsRmsNorm}). */
    public void rowsRmsNorm(boolean on) { ew.rowsRmsNorm = on; }

    /** For tests: norms the float4 kernels have taken ({@code rowsRmsNorm}). */
    long rowsNormLaunches() { return ew.rowsNormLaunches; }

    /** For tests: attentions the fused prefill path has taken. */
    long fusedPrefillSteps() { return attn.fusedLaunches; }

    /** For benchmarks: CUDA graphs for repeated step shapes on or off ({@code -Dmistralflink.cuda.graphs}). */
    public void graphs(boolean on) { stream.graphs(on); }

    /** For benchmarks: device time of every command from now on (CUDA events around each, eager commands only). */
    public void profile(boolean on) { stream.profile(on); }

    /** The device time of the commands since {@link #profile} was turned on, by kernel (or GEMM shape), largest first. */
    public String profileReport() { return stream.profileReport(); }

    // ---------------------------------------------------------------- attention (CudaAttention)

    /** Deferred: see {@link CudaAttention#rotary}. */
    @Override public void rotary(Activation q, Activation k, int headDim, int[] positions, double theta) { attn.rotary(q, k, headDim, positions, theta); }

    @Override public void attention(Activation q, Activation k, Activation v, Activation out, AttentionBatch b, int layer) {
        attn.attention(q, k, v, out, b, layer);
    }

    /** Which decode attention kernel runs: auto (by batch shape), tiled2 or tiled4 (two or four lanes per key), mma (tensor cores). For tests. */
    void decodeAttention(String mode) { attn.decodeAttention = mode; }

    /** For tests: prefill attention on tensor cores ({@code flash}) or by the per-row kernel ({@code simple}). */
    void prefillAttention(String mode) { attn.flashPrefill = !"simple".equals(mode); }

    // ---------------------------------------------------------------- mixture of experts (CudaMoe)

    @Override public Routing route(Activation scores, int topK) { return moe.route(scores, topK); }

    @Override public void dispatch(Activation x, Routing routing, Activation out) { moe.dispatch(x, routing, out); }

    @Override public void groupedMatmul(Activation x, Weight[] w, Routing routing, Activation out) { moe.groupedMatmul(x, w, routing, out); }

    @Override public void combine(Activation y, Routing routing, Activation out) { moe.combine(y, routing, out); }

    /** For tests: a routing read back. */
    CudaMoe.HostRouting download(Routing routing) { return moe.download(routing); }

    @Override public void close() {
        if (closed) return;
        bind();
        try { stream.synchronize(); } catch (RuntimeException ignored) { }
        freeDeferred();
        for (Act a : loose) { cuMemFree(a.f32); if (a.bf16 != 0) cuMemFree(a.bf16); }
        loose.clear();
        for (long p : weights) cuMemFree(p);
        weights.clear();
        uploaded.clear();
        moe.clear();
        attn.close();
        if (readback != null) cuMemFreeHost(readback);
        pool.close();
        staging.close();
        stream.close();
        closed = true;
        int[] dev = new int[1];
        if (cuDeviceGet(dev, ordinal) == 0) cuDevicePrimaryCtxRelease(dev[0]);
    }
}
