package io.mistralflink.model.compute.cpu;

import io.mistralflink.model.weights.DType;
import io.mistralflink.model.weights.Tensor;
import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.matmul;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

/**
 * out = x W^T for many rows through oneDNN's matmul with bf16 inputs and float32 accumulation: on a
 * processor with AVX512-BF16 (or AMX) its kernels use the bf16 dot-product instructions, twice the
 * float32 FMA rate. The rows are rounded to bf16 (to nearest even) on the way in; the weights are read
 * in place, in their stored [out][in] layout (oneDNN's "ba" of a K x N matrix), never copied.
 *
 * <p>This serves {@link CpuBackend}'s opt-in bf16 mode only (device {@code cpu:bf16}): the rounding of
 * the activations moves results by up to about 2^-9 of each product, and oneDNN picks its kernels by the
 * number of rows (one row takes another than many), so neither the float32 exactness of the default
 * path nor its bitwise batch invariance holds here. See docs/engine.md.
 *
 * <p>Probed once per process ({@link #unavailable}): where the library does not load or has no bf16
 * kernel for this processor, the backend keeps the Vector API path and says so in one line.
 */
final class OneDnn {
    private OneDnn() {}

    /** Why oneDNN cannot serve here, or null when it can; computed once. */
    static String unavailable() { return Probe.FAILURE; }

    /** Weights oneDNN reads in place: bf16 in native memory. */
    static boolean supports(Tensor w) { return w.dtype() == DType.BF16 && w.data().isNative(); }

    private record Shape(int m, int k, int n) {}

    private static final class Probe {
        static engine ENGINE;
        static final String FAILURE = probe();
        private static final Map<Shape, matmul> PRIMITIVES = new ConcurrentHashMap<>();
        private static MethodHandle ompSetNumThreads;

        private static String probe() {
            try {
                // libgomp spins 300,000 rounds after each parallel region by default, which on a small
                // machine takes the core from the Java kernels that follow; it reads this when it loads.
                setenvIfAbsent("GOMP_SPINCOUNT", "10000");
                Loader.load(org.bytedeco.dnnl.global.dnnl.class);
                ENGINE = new engine(engine.kind.cpu, 0);
                try (matmul.primitive_desc pd = descriptor(new Shape(16, 64, 64))) {
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

        private static matmul.primitive_desc descriptor(Shape s) {
            return new matmul.primitive_desc(ENGINE,
                    new memory.desc(new long[]{s.m, s.k}, memory.data_type.bf16, memory.format_tag.ab),
                    new memory.desc(new long[]{s.k, s.n}, memory.data_type.bf16, memory.format_tag.ba),
                    new memory.desc(new long[]{s.m, s.n}, memory.data_type.f32, memory.format_tag.ab));
        }

        /** One primitive per shape, created on first use (oneDNN compiles its kernels then). */
        static matmul primitive(Shape s) {
            return PRIMITIVES.computeIfAbsent(s, key -> {
                try (matmul.primitive_desc pd = descriptor(key)) { return new matmul(pd); }
            });
        }
    }

    /** Per calling thread: its stream and the rows in and out in native memory. */
    private static final class Buffers {
        final stream stream = new stream(Probe.ENGINE);
        short[] staged = new short[0];
        ShortPointer in = new ShortPointer(0L);
        FloatPointer out = new FloatPointer(0L);

        void fit(long inElems, long outElems) {
            if (staged.length < inElems) staged = new short[(int) inElems];
            if (in.capacity() < inElems) { in.close(); in = new ShortPointer(inElems); }
            if (out.capacity() < outElems) { out.close(); out = new FloatPointer(outElems); }
        }
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** out[r] = W x[r] for rows [r0, r1) of x and out, on {@code threads} threads; needs {@link #unavailable} null. */
    static void matmul(float[] x, int r0, int r1, Tensor w, float[] out, int threads) {
        int m = r1 - r0, k = w.cols(), n = w.rows();
        Buffers b = BUFFERS.get();
        b.fit((long) m * k, (long) m * n);
        short[] s = b.staged;
        for (int i = 0, base = r0 * k; i < m * k; i++) s[i] = bf16(x[base + i]);
        b.in.position(0).put(s, 0, m * k);
        matmul p = Probe.primitive(new Shape(m, k, n));
        try (Pointer weights = new Pointer() { { address = w.data().address(); } };
             memory src = new memory(new memory.desc(new long[]{m, k}, memory.data_type.bf16, memory.format_tag.ab), Probe.ENGINE, b.in);
             memory wts = new memory(new memory.desc(new long[]{k, n}, memory.data_type.bf16, memory.format_tag.ba), Probe.ENGINE, weights);
             memory dst = new memory(new memory.desc(new long[]{m, n}, memory.data_type.f32, memory.format_tag.ab), Probe.ENGINE, b.out);
             IntMemoryMap args = new IntMemoryMap()) {
            args.put(DNNL_ARG_SRC, src);
            args.put(DNNL_ARG_WEIGHTS, wts);
            args.put(DNNL_ARG_DST, dst);
            // OpenMP's team size is the calling thread's setting: the backend's thread count.
            Probe.ompSetNumThreads.invokeExact(threads);
            p.execute(b.stream, args);
            b.stream._wait();
        } catch (Throwable t) {
            throw t instanceof RuntimeException e ? e : new IllegalStateException("oneDNN matmul " + m + "x" + k + " by " + w, t);
        }
        b.out.position(0).get(out, r0 * n, m * n);
    }

    /** float32 to bf16, rounded to nearest even (the inputs are finite). */
    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
