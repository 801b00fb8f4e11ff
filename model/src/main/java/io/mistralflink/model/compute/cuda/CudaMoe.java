package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend.Routing;
import io.mistralflink.model.compute.Weight;
import io.mistralflink.model.compute.cuda.CudaBackend.Act;
import io.mistralflink.model.compute.cuda.CudaBackend.CudaWeight;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Map;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoHAsync;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoD;

/**
 * The mixture of experts on the device ({@code moe.cu}): routing (top-k, softmax over the k, pairs grouped by
 * expert), dispatch, the experts' matmuls (one grouped GEMV launch up to {@code moeGemvPairs} pairs, else one
 * cuBLAS GEMM per non-empty expert over its contiguous block) and the weighted combine. A kernel family of
 * {@link CudaBackend}, which it serves.
 */
final class CudaMoe {
    private final CudaBackend cu;
    private final Map<Weight[], Long> expertPointers = new IdentityHashMap<>();

    CudaMoe(CudaBackend cu) { this.cu = cu; }

    /** At close: the pointer arrays themselves are freed with the backend's weights. */
    void clear() { expertPointers.clear(); }

    /**
     * A routing on the device: ints = offsets[E+1] | pairRow[P] | rowPairs[P] | rowExp[P], floats =
     * pairWeight[P] | rowW[P] (P = rows * topK; rowExp / rowW: each row's experts and weights, ascending
     * expert, as route computes them). The offsets come back to the host only for the cuBLAS path, once.
     */
    static final class CudaRouting implements Routing {
        final int rows, topK, experts, gen;
        final boolean loose;
        final long ints, floats;
        int[] hostOffsets;
        CudaRouting(int rows, int topK, int experts, long ints, long floats, int gen, boolean loose) {
            this.rows = rows; this.topK = topK; this.experts = experts; this.ints = ints; this.floats = floats; this.gen = gen; this.loose = loose;
        }
        public int rows() { return rows; }
        public int topK() { return topK; }
        public int experts() { return experts; }
        int pairs() { return rows * topK; }
        long offsets() { return ints; }
        long pairRow() { return ints + 4L * (experts + 1); }
        long rowPairs() { return pairRow() + 4L * pairs(); }
        long rowExp() { return rowPairs() + 4L * pairs(); }
        long pairWeight() { return floats; }
        long rowW() { return floats + 4L * pairs(); }
    }

    private CudaRouting routing(Routing routing, Act pairs, String what) {
        CudaRouting r = (CudaRouting) routing;
        if (!r.loose && r.gen != cu.pool.generation()) throw new IllegalStateException("routing used after its step closed");
        if (pairs.rows != r.pairs()) throw new IllegalArgumentException(what + ": " + pairs.rows + " rows for " + r.rows + " rows x top " + r.topK);
        return r;
    }

    Routing route(Activation scores, int topK) {
        cu.bind();
        Act s = cu.act(scores);
        int rows = s.rows, experts = s.cols;
        if (topK < 1 || topK > Math.min(8, experts) || experts > 64)
            throw new IllegalArgumentException("the CUDA router takes the top k <= 8 of at most 64 experts: top " + topK + " of " + experts);
        cu.ensureZero(s);
        long pairs = (long) rows * topK;
        CudaRouting r = new CudaRouting(rows, topK, experts, cu.scratch(4L * (experts + 1 + 3 * pairs)), cu.scratch(8L * Math.max(1, pairs)),
                cu.pool.generation(), !cu.inStep);
        // a thread per group of rows; the per-(expert, thread) counters must fit the 48 KiB of shared memory
        int threads = Math.min(Math.min(1024, (rows + 31) / 32 * 32), (12288 / experts) & ~31);
        threads = Math.max(32, threads);
        cu.k("moe_route", 1, 1, 1, threads, 4 * experts * threads, s.f32, rows, experts, topK,
                r.offsets(), r.pairRow(), r.rowPairs(), r.rowExp(), r.pairWeight(), r.rowW());
        return r;
    }

    void dispatch(Activation x, Routing routing, Activation out) {
        cu.bind();
        Act a = cu.act(x), o = cu.act(out);
        CudaRouting r = routing(routing, o, "dispatch");
        if (a.rows != r.rows || a.cols != o.cols) throw new IllegalArgumentException("dispatch of " + a.rows + "x" + a.cols + " into " + o.rows + "x" + o.cols);
        cu.ensureZero(a);
        long ob = cu.bf16Buffer(o);
        if (r.pairs() > 0) cu.k("moe_dispatch", r.pairs(), 1, 1, 256, 0, a.f32, r.pairRow(), o.f32, ob, a.cols);
        o.zeroPending = false;
        o.bfValid = true;
    }

    void groupedMatmul(Activation x, Weight[] w, Routing routing, Activation out) {
        cu.bind();
        Act a = cu.act(x), o = cu.act(out);
        CudaRouting r = routing(routing, a, "groupedMatmul");
        if (w.length != r.experts) throw new IllegalArgumentException(w.length + " weights for " + r.experts + " experts");
        int n = w[0].rows(), kk = w[0].cols();
        for (Weight we : w)
            if (we.rows() != n || we.cols() != kk || a.cols != kk || o.cols != n || o.rows != a.rows)
                throw new IllegalArgumentException("groupedMatmul " + a.rows + "x" + a.cols + " by " + we.rows() + "x" + we.cols() + " into " + o.rows + "x" + o.cols);
        int pairs = r.pairs();
        if (pairs > 0) {
            long xb = cu.bf16Of(a);
            if (pairs <= cu.tuning.moeGemvPairs() && kk % 8 == 0) {
                // upper bound of an expert's pairs: picks the row-chunk width (an expert with more loops over chunks)
                String fn = pairs <= 1 ? "moe_gemv1" : pairs <= 2 ? "moe_gemv2" : pairs <= 4 ? "moe_gemv4" : "moe_gemv8";
                int split = CudaMatmul.gemvSplit(n);
                cu.k(fn, (n + 8 / split - 1) / (8 / split), r.experts, 1, 256, 0, expertPointers(w), r.offsets(), xb, o.f32, n, kk, split);
            } else {
                int[] off = hostOffsets(r);
                for (int e = 0; e < r.experts; e++) {
                    int from = off[e], count = off[e + 1] - from;
                    if (count > 0) cu.gemm(count, (CudaWeight) w[e], xb + 2L * from * kk, o.f32 + 4L * from * n);
                }
            }
        }
        CudaBackend.written(o);
    }

    /** The experts' weight pointers on the device, uploaded once per array (the layers keep theirs). */
    private long expertPointers(Weight[] w) {
        Long p = expertPointers.get(w);
        if (p != null) return p;
        if (cu.stream.mode() != Stream.Mode.EAGER) cu.stream.syncPoint();
        long[] ptrs = new long[w.length];
        for (int i = 0; i < w.length; i++) ptrs[i] = ((CudaWeight) w[i]).ptr();
        long d = Cuda.malloc(8L * w.length);
        try (LongPointer lp = new LongPointer(ptrs)) { check(cuMemcpyHtoD(d, lp, 8L * w.length), "upload expert pointers"); }
        cu.weights.add(d);
        expertPointers.put(w, d);
        return d;
    }

    /** The routing's per-expert offsets on the host: one read-back per routing (the cuBLAS path). */
    private int[] hostOffsets(CudaRouting r) {
        if (r.hostOffsets == null) {
            cu.stream.syncPoint();
            long bytes = 4L * (r.experts + 1);
            Pointer host = cu.readback(bytes);
            check(cuMemcpyDtoHAsync(host, r.offsets(), bytes, cu.stream.stream), "cuMemcpyDtoHAsync");
            cu.stream.synchronize();
            int[] off = new int[r.experts + 1];
            host.capacity(bytes).asByteBuffer().order(ByteOrder.nativeOrder()).asIntBuffer().get(off);
            r.hostOffsets = off;
        }
        return r.hostOffsets;
    }

    void combine(Activation y, Routing routing, Activation out) {
        cu.bind();
        Act a = cu.act(y), o = cu.act(out);
        CudaRouting r = routing(routing, a, "combine");
        if (o.rows != r.rows || o.cols != a.cols) throw new IllegalArgumentException("combine into " + o.rows + "x" + o.cols);
        cu.ensureZero(a);
        if (r.rows > 0) cu.k("moe_combine", r.rows, 1, 1, 256, 0, a.f32, r.rowPairs(), r.pairWeight(), o.f32, a.cols, r.topK);
        CudaBackend.written(o);
    }

    /** For tests: a routing read back as {offsets, pairRow, rowPairs} and pairWeight. */
    record HostRouting(int[] offsets, int[] pairRow, int[] rowPairs, float[] pairWeight) {}

    HostRouting download(Routing routing) {
        cu.bind();
        CudaRouting r = (CudaRouting) routing;
        int p = r.pairs(), e = r.experts;
        cu.stream.syncPoint();
        long intBytes = 4L * (e + 1 + 2L * p), bytes = intBytes + 4L * p;
        Pointer host = cu.readback(bytes);
        check(cuMemcpyDtoHAsync(host, r.ints, intBytes, cu.stream.stream), "cuMemcpyDtoHAsync");
        check(cuMemcpyDtoHAsync(new Cuda.Addr(host.address() + intBytes), r.floats, 4L * p, cu.stream.stream), "cuMemcpyDtoHAsync");
        cu.stream.synchronize();
        java.nio.ByteBuffer buf = host.capacity(bytes).asByteBuffer().order(ByteOrder.nativeOrder());
        int[] ints = new int[e + 1 + 2 * p];
        float[] weights = new float[p];
        buf.asIntBuffer().get(ints);
        buf.position((int) intBytes);
        buf.slice().order(ByteOrder.nativeOrder()).asFloatBuffer().get(weights);
        return new HostRouting(Arrays.copyOfRange(ints, 0, e + 1), Arrays.copyOfRange(ints, e + 1, e + 1 + p),
                Arrays.copyOfRange(ints, e + 1 + p, e + 1 + 2 * p), weights);
    }
}
