package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.matmul;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static io.mistralflink.model.compute.cpu.MatMul.F;
import static io.mistralflink.model.compute.cpu.MatMul.L;

/**
 * out = x W^T through oneDNN's matmul with bf16 inputs and float32 accumulation: on a processor with
 * AVX512-BF16 (or AMX) its kernels use the bf16 dot-product instructions, twice the float32 FMA rate.
 * The rows are rounded to bf16 (to nearest even) on the way in.
 *
 * <p>Each weight is packed once, on its first product ({@link #pack}), into the blocked layout that
 * oneDNN's brgemm kernels read (the layout its primitive asks for; the same for every row count). Read
 * in their stored [out][in] layout instead, the kernels repacked the weights at every call: at 8 rows
 * (a decode step) that doubled a product's time. A call of fewer than {@value #MIN_ROWS} rows is padded
 * to {@value #MIN_ROWS} (one row alone takes a kernel that sums in another order, and costs as much as
 * four: the weights' streaming bounds both), so a row's result is the same bits in a call of any number
 * of rows: batch invariance holds in this mode too.
 *
 * <p>This serves {@link CpuBackend}'s opt-in bf16 mode only (device {@code cpu:bf16}): the rounding of
 * the activations moves results by up to about 2^-9 of each product, so the float32 exactness of the
 * default path does not hold here. See docs/engine.md.
 *
 * <p>Probed once per process ({@link #unavailable}): where the library does not load or has no bf16
 * kernel for this processor, the backend keeps the Vector API path and says so in one line.
 */
final class OneDnn {
    private OneDnn() {}

    /** Calls of fewer rows are padded to this many. */
    static final int MIN_ROWS = 4;

    /** Why oneDNN cannot serve here, or null when it can; computed once. */
    static String unavailable() { return Probe.FAILURE; }

    /**
     * Matrices narrower than this (k) or smaller than {@link #MIN_ELEMENTS} stay on the Vector API path: a
     * oneDNN call costs more than their product. tiny-mistral's layers (k = 256 and 704) ran 2.7x slower
     * through it, its LM head (32,000 x 256) made a batch-1 decode step 2.6x slower. The choice is the
     * weight's, not the call's, so a row's result still does not depend on how many rows it came with.
     */
    static final int MIN_K = 1024;
    static final long MIN_ELEMENTS = 1 << 20;

    /** Weights oneDNN takes: bf16 matrices at least {@value #MIN_K} wide and of {@value #MIN_ELEMENTS} elements, in native memory (a mapped checkpoint's). */
    static boolean supports(Tensor w) {
        return w.dtype() == DType.BF16 && w.shape().length == 2 && w.cols() >= MIN_K && w.size() >= MIN_ELEMENTS && w.data().isNative();
    }

    private static final class Probe {
        static engine ENGINE;
        static final String FAILURE = probe();
        private static MethodHandle ompSetNumThreads;

        private static String probe() {
            try {
                // libgomp spins 300,000 rounds after each parallel region by default, which on a small
                // machine takes the core from the Java kernels that follow; it reads this when it loads.
                setenvIfAbsent("GOMP_SPINCOUNT", "10000");
                Loader.load(org.bytedeco.dnnl.global.dnnl.class);
                ENGINE = new engine(engine.kind.cpu, 0);
                try (matmul.primitive_desc pd = descriptor(16, 64, 64, new memory.desc(new long[]{64, 64}, memory.data_type.bf16, memory.format_tag.any))) {
                    String impl = pd.impl_info_str().getString();
                    if (!impl.contains("bf16") && !impl.contains("amx"))
                        return "no bf16 dot-product kernel on this processor (oneDNN picked " + impl + ")";
                }
                ompSetNumThreads = Linker.nativeLinker().downcallHandle(
                        SymbolLookup.libraryLookup("libgomp.so.1", Arena.global()).findOrThrow("omp_set_num_threads"),
                        FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
                return null;
            } catch (Throwable t) {
                Throwable c = t;
                while (c.getCause() != null) c = c.getCause();
                return c.getClass().getSimpleName() + ": " + c.getMessage();
            }
        }

        private static void setenvIfAbsent(String name, String value) throws Throwable {
            if (System.getenv(name) != null) return;
            Linker l = Linker.nativeLinker();
            MethodHandle setenv = l.downcallHandle(l.defaultLookup().findOrThrow("setenv"),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            try (Arena a = Arena.ofConfined()) {
                int ignored = (int) setenv.invokeExact(a.allocateFrom(name), a.allocateFrom(value), 0);
            }
        }
    }

    private static matmul.primitive_desc descriptor(int m, int k, int n, memory.desc weights) {
        return new matmul.primitive_desc(Probe.ENGINE,
                new memory.desc(new long[]{m, k}, memory.data_type.bf16, memory.format_tag.ab), weights,
                new memory.desc(new long[]{m, n}, memory.data_type.f32, memory.format_tag.ab));
    }

    /** A weight in oneDNN's blocked layout, owned by the backend, with a primitive per row count (made on first use). */
    static final class Packed implements AutoCloseable {
        final int k, n;
        private final memory.desc layout;
        private final memory weights;
        private final Map<Integer, matmul> primitives = new ConcurrentHashMap<>();

        private Packed(int k, int n, memory.desc layout, memory weights) {
            this.k = k;
            this.n = n;
            this.layout = layout;
            this.weights = weights;
        }

        private matmul primitive(int m) {
            return primitives.computeIfAbsent(m, rows -> {
                try (matmul.primitive_desc pd = descriptor(rows, k, n, layout)) { return new matmul(pd); }
            });
        }

        @Override public void close() {
            primitives.values().forEach(matmul::close);
            weights.close();
        }
    }

    /** Packs a bf16 [n][k] weight into the layout oneDNN's many-row primitive asks for; needs {@link #unavailable} null. */
    static Packed pack(Tensor w) {
        int k = w.cols(), n = w.rows();
        memory.desc layout;
        try (matmul.primitive_desc pd = descriptor(128, k, n, new memory.desc(new long[]{k, n}, memory.data_type.bf16, memory.format_tag.any))) {
            layout = pd.weights_desc();
        }
        memory packed = new memory(layout, Probe.ENGINE);
        try (Pointer stored = new Pointer() { { address = w.data().address(); } };
             memory plain = new memory(new memory.desc(new long[]{k, n}, memory.data_type.bf16, memory.format_tag.ba), Probe.ENGINE, stored);
             reorder r = new reorder(plain, packed);
             stream s = new stream(Probe.ENGINE)) {
            r.execute(s, plain, packed);
            s._wait();
        }
        return new Packed(k, n, layout, packed);
    }

    /** Per calling thread: its stream and the rows in and out in native memory. */
    private static final class Buffers {
        final stream stream = new stream(Probe.ENGINE);
        ShortPointer in = new ShortPointer(0L);
        FloatPointer out = new FloatPointer(0L);

        void fit(long inElems, long outElems) {
            if (in.capacity() < inElems) { in.close(); in = new ShortPointer(inElems); }
            if (out.capacity() < outElems) { out.close(); out = new FloatPointer(outElems); }
        }
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /**
     * outs[i][r] = W_i x[r] for rows [r0, r1) of x and of each out, on {@code threads} threads: the rows are
     * rounded once for all the weights (attention's q, k and v; SwiGLU's gate and up), which share k.
     */
    static void matmul(float[] x, int r0, int r1, Packed[] ws, float[][] outs, int threads) {
        int m = r1 - r0, rows = Math.max(m, MIN_ROWS), k = ws[0].k;
        int widest = 0;
        for (Packed w : ws) widest = Math.max(widest, w.n);
        Buffers b = BUFFERS.get();
        b.fit((long) rows * k, (long) rows * widest);
        MemorySegment in = MemorySegment.ofAddress(b.in.address()).reinterpret((long) rows * k * 2);
        toBf16(x, r0 * k, m * k, in);
        if (rows > m) in.asSlice((long) m * k * 2).fill((byte) 0);
        try (memory src = new memory(new memory.desc(new long[]{rows, k}, memory.data_type.bf16, memory.format_tag.ab), Probe.ENGINE, b.in)) {
            // OpenMP's team size is the calling thread's setting: the backend's thread count.
            Probe.ompSetNumThreads.invokeExact(threads);
            for (int i = 0; i < ws.length; i++) {
                Packed w = ws[i];
                try (memory dst = new memory(new memory.desc(new long[]{rows, w.n}, memory.data_type.f32, memory.format_tag.ab), Probe.ENGINE, b.out);
                     IntMemoryMap args = new IntMemoryMap()) {
                    args.put(DNNL_ARG_SRC, src);
                    args.put(DNNL_ARG_WEIGHTS, w.weights);
                    args.put(DNNL_ARG_DST, dst);
                    w.primitive(rows).execute(b.stream, args);
                    b.stream._wait();
                }
                b.out.position(0).get(outs[i], r0 * w.n, m * w.n);
            }
        } catch (Throwable t) {
            throw t instanceof RuntimeException e ? e : new IllegalStateException("oneDNN matmul of " + m + " rows by " + k, t);
        }
    }

    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));

    /** x[from .. from+n) rounded to bf16 into dst, as {@link #bf16} does, a vector at a time. */
    static void toBf16(float[] x, int from, int n, MemorySegment dst) {
        int i = 0;
        for (; i + L <= n; i += L) {
            IntVector bits = FloatVector.fromArray(F, x, from + i).reinterpretAsInts();
            bits.add(0x7fff).add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).lanewise(VectorOperators.LSHR, 16)
                    .convertShape(VectorOperators.I2S, S, 0).intoMemorySegment(dst, 2L * i, ByteOrder.nativeOrder());
        }
        for (; i < n; i++) dst.set(ValueLayout.JAVA_SHORT, 2L * i, bf16(x[from + i]));
    }

    /** float32 to bf16, rounded to nearest even (the inputs are finite). */
    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
