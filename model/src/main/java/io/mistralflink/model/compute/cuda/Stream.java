package io.mistralflink.model.compute.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerPointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static io.mistralflink.model.compute.cuda.Cuda.checkCublas;
import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.*;

/**
 * The backend's one CUDA stream, and every piece of device work goes through it as a command (a
 * kernel launch, a cuBLAS GEMM, a copy from pinned staging memory, a memset). That is what lets a
 * forward step run in three ways:
 * <ul>
 *   <li>eager: each command is issued as it comes;</li>
 *   <li>capture: the second time a step of a given shape comes, its commands are issued under stream
 *       capture and become a CUDA graph, in segments of {@code mistralflink.cuda.graphSegment} commands
 *       (default 64; 0: one graph), each launched once its commands are issued;</li>
 *   <li>replay: later steps of that shape only record their commands (their per-step inputs, token ids,
 *       positions, cache addresses, are written to the same pinned staging bytes as before); as each
 *       segment's commands are issued, if they equal the graph's segment, it is launched, else they run
 *       eagerly, as does the rest of the step, and the graph is dropped.</li>
 * </ul>
 * After a step's first read-back the rest of it runs eagerly (a Mixtral prefill step reads its experts'
 * offsets back in every layer: such shapes are marked unfit for graphs).
 */
final class Stream implements AutoCloseable {
    enum Mode { EAGER, CAPTURE, RECORD }

    sealed interface Cmd permits Launch, Gemm, CopyIn, Memset {}

    record Launch(CUfunc_st f, String name, int gx, int gy, int gz, int bx, int smem, long[] args) implements Cmd {
        @Override public boolean equals(Object o) {
            return o instanceof Launch l && l.f == f && l.gx == gx && l.gy == gy && l.gz == gz && l.bx == bx && l.smem == smem
                    && Arrays.equals(l.args, args);
        }
        @Override public int hashCode() { return Arrays.hashCode(args) * 31 + gx; }
    }

    /**
     * Row-major out[M][N] = x[M][K] W[N][K]^T: cuBLAS, bf16 in, fp32 accumulate, fp32 out (bf16 where bf16Out). With
     * splits > 1, slice s of K goes to out + s*M*N (one strided-batched call); the caller sums the slices.
     */
    record Gemm(int m, int n, int k, int splits, long w, long x, long out, boolean bf16Out) implements Cmd {}

    record CopyIn(long dst, long srcPinned, long bytes) implements Cmd {}

    record Memset(long dst, long words) implements Cmd {}

    /** A step's graph in segments: segment i holds commands [i*L, (i+1)*L) of the step (L = segmentLength). */
    private record Graph(List<CUgraphExec_st> execs, List<List<Cmd>> segments) {}

    final CUstream_st stream = new CUstream_st();
    final cublasContext cublas = new cublasContext();
    private final long workspace;
    private final BytePointer argValues = new BytePointer(8L * 32);
    private final ByteBuffer argBuffer;
    private final PointerPointer<?> argPointers = new PointerPointer<>(32);
    private final FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f);
    private boolean graphsEnabled;
    private final int segmentLength;

    private Mode mode = Mode.EAGER;
    private String key;
    private List<Cmd> recorded;                 // the current segment's commands
    private int segment;                        // its index
    private final List<CUgraphExec_st> capturedExecs = new ArrayList<>();
    private final List<List<Cmd>> capturedSegments = new ArrayList<>();
    private int syncsThisStep;
    private final Map<String, Graph> graphs = new HashMap<>();
    private final Map<String, Integer> seen = new HashMap<>();
    private final Set<String> unfit = new HashSet<>();
    long launches, graphLaunches, captures;
    /**
     * Replayed steps: their host time from the step's start to its graph launch (the Java side of a step),
     * and their graphs' device time (events around the launch, read at the next step).
     */
    long replayHostNanos, replayDeviceNanos, replays;
    private long stepStart;
    private final CUevent_st graphStart = new CUevent_st(), graphEnd = new CUevent_st();
    private boolean graphTimed;

    Stream(boolean graphsEnabled, int segmentLength) {
        this.graphsEnabled = graphsEnabled;
        this.segmentLength = segmentLength;
        check(cuStreamCreate(stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        checkCublas(cublasCreate_v2(cublas), "cublasCreate");
        checkCublas(cublasSetStream_v2(cublas, stream), "cublasSetStream");
        long wsBytes = 64L << 20;
        workspace = Cuda.malloc(wsBytes);
        // An explicit workspace keeps cuBLAS from allocating while a graph is being captured.
        checkCublas(cublasSetWorkspace_v2(cublas, new Cuda.Addr(workspace), wsBytes), "cublasSetWorkspace");
        check(cuEventCreate(graphStart, CU_EVENT_DEFAULT), "cuEventCreate");
        check(cuEventCreate(graphEnd, CU_EVENT_DEFAULT), "cuEventCreate");
        argBuffer = argValues.capacity(8L * 32).asByteBuffer().order(ByteOrder.nativeOrder());
        for (int i = 0; i < 32; i++) argPointers.put(i, new Cuda.Addr(argValues.address() + 8L * i));
    }

    Mode mode() { return mode; }

    /** Graphs for step shapes seen from now on (off: every step eager; graphs captured so far are dropped). */
    void graphs(boolean on) {
        if (!on) invalidateGraphs();
        graphsEnabled = on;
    }

    // ---- profile: CUDA events around each eager command (KernelProfile sums them by name) ----

    private record Timed(String name, CUevent_st start, CUevent_st end) {}

    private boolean profiling;
    private final List<Timed> timed = new ArrayList<>();
    private final List<CUevent_st> spareEvents = new ArrayList<>();

    void profile(boolean on) { profiling = on; }

    private CUevent_st event() {
        if (!spareEvents.isEmpty()) return spareEvents.remove(spareEvents.size() - 1);
        CUevent_st e = new CUevent_st();
        check(cuEventCreate(e, CU_EVENT_DEFAULT), "cuEventCreate");
        return e;
    }

    /** The device time of the commands timed since the last report, by name, and the span from the first's start to the last's end. */
    String profileReport() {
        synchronize();
        KernelProfile p = new KernelProfile();
        float[] ms = new float[1];
        for (Timed t : timed) {
            check(cuEventElapsedTime(ms, t.start, t.end), "cuEventElapsedTime");
            p.add(t.name, ms[0]);
        }
        if (!timed.isEmpty()) {
            check(cuEventElapsedTime(ms, timed.get(0).start, timed.get(timed.size() - 1).end), "cuEventElapsedTime");
            p.span(ms[0]);
        }
        for (Timed t : timed) { spareEvents.add(t.start); spareEvents.add(t.end); }
        timed.clear();
        return p.report();
    }

    private static String nameOf(Cmd c) {
        return switch (c) {
            case Launch l -> l.name;
            case Gemm g -> "cublas " + g.m + "x" + g.n + "x" + g.k + (g.splits > 1 ? " in " + g.splits : "") + (g.bf16Out ? " bf16 out" : "");
            case CopyIn cp -> "copy in";
            case Memset ms -> "memset";
        };
    }

    // ---- commands ----

    void launch(CUfunc_st f, String name, int gx, int gy, int gz, int bx, int smem, long... args) {
        submit(new Launch(f, name, gx, gy, gz, bx, smem, args));
    }

    void gemm(int m, int n, int k, int splits, long w, long x, long out) { submit(new Gemm(m, n, k, splits, w, x, out, false)); }

    /** out = x W^T rounded to bf16 (cuBLAS's epilogue rounds the fp32 sums), for a consumer that reads bf16. */
    void gemmBf16(int m, int n, int k, long w, long x, long out) { submit(new Gemm(m, n, k, 1, w, x, out, true)); }

    void copyIn(long dst, long srcPinned, long bytes) { submit(new CopyIn(dst, srcPinned, bytes)); }

    void memsetZero(long dst, long words) { submit(new Memset(dst, words)); }

    static long f(float v) { return Float.floatToRawIntBits(v) & 0xffffffffL; }

    private void submit(Cmd c) {
        if (mode != Mode.EAGER) recorded.add(c);
        if (mode != Mode.RECORD) run(c);
        if (mode != Mode.EAGER && recorded.size() == segmentLength) endSegment(true);
    }

    private void run(Cmd c) {
        if (profiling && mode == Mode.EAGER) {
            CUevent_st start = event(), end = event();
            check(cuEventRecord(start, stream), "cuEventRecord");
            issue(c);
            check(cuEventRecord(end, stream), "cuEventRecord");
            timed.add(new Timed(nameOf(c), start, end));
        } else {
            issue(c);
        }
    }

    private void issue(Cmd c) {
        switch (c) {
            case Launch l -> {
                if (l.args.length > 32) throw new IllegalArgumentException("too many kernel arguments");
                for (int i = 0; i < l.args.length; i++) argBuffer.putLong(8 * i, l.args[i]);
                check(cuLaunchKernel(l.f, l.gx, l.gy, l.gz, l.bx, 1, 1, l.smem, stream, argPointers, null), "launch " + l.name);
                launches++;
            }
            case Gemm g when g.splits == 1 -> checkCublas(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, g.n, g.m, g.k, one,
                    new Cuda.Addr(g.w), CUDA_R_16BF, g.k, new Cuda.Addr(g.x), CUDA_R_16BF, g.k,
                    zero, new Cuda.Addr(g.out), g.bf16Out ? CUDA_R_16BF : CUDA_R_32F, g.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublasGemmEx " + g.m + "x" + g.k + " by " + g.n + "x" + g.k);
            case Gemm g -> {
                int slice = g.k / g.splits;
                checkCublas(cublasGemmStridedBatchedEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, g.n, g.m, slice, one,
                        new Cuda.Addr(g.w), CUDA_R_16BF, g.k, slice, new Cuda.Addr(g.x), CUDA_R_16BF, g.k, slice,
                        zero, new Cuda.Addr(g.out), CUDA_R_32F, g.n, (long) g.m * g.n, g.splits, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                        "cublasGemmStridedBatchedEx " + g.m + "x" + g.k + " by " + g.n + "x" + g.k + " in " + g.splits + " slices");
            }
            case CopyIn cp -> check(cuMemcpyHtoDAsync(cp.dst, new Cuda.Addr(cp.srcPinned), cp.bytes, stream), "cuMemcpyHtoDAsync");
            case Memset ms -> check(cuMemsetD32Async(ms.dst, 0, ms.words, stream), "cuMemsetD32Async");
        }
    }

    // ---- steps and graphs ----

    /**
     * A step of this shape begins (key null: never graphed). A graphed step goes in segments of
     * segmentLength commands, each launched as soon as the host has issued its commands, so the device
     * runs the first layers while the host still records the last ones (the host's part of a 7B decode
     * step is 0.1-0.3 ms on the H200 machine, during which the device would otherwise wait).
     */
    void beginStep(String shapeKey) {
        stepStart = System.nanoTime();
        if (graphTimed && cuEventQuery(graphEnd) == CUDA_SUCCESS) {
            float[] ms = new float[1];
            check(cuEventElapsedTime(ms, graphStart, graphEnd), "cuEventElapsedTime");
            replayDeviceNanos += (long) (ms[0] * 1e6);
        }
        graphTimed = false;
        syncsThisStep = 0;
        key = shapeKey;
        mode = Mode.EAGER;
        segment = 0;
        if (!graphsEnabled || shapeKey == null || unfit.contains(shapeKey)) return;
        if (graphs.containsKey(shapeKey)) {
            mode = Mode.RECORD;
            recorded = new ArrayList<>();
        } else if (seen.merge(shapeKey, 1, Integer::sum) >= 2) {
            capturedExecs.clear();
            capturedSegments.clear();
            check(cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
            mode = Mode.CAPTURE;
            recorded = new ArrayList<>();
        }
    }

    /**
     * The current segment's commands are all issued: capture ends and its graph is launched (CAPTURE), or
     * they are compared with the graph's and its segment is launched (RECORD). With more to come, the next
     * segment begins. On a mismatch or a failed capture the segment's commands run eagerly, as does the
     * rest of the step.
     */
    private void endSegment(boolean more) {
        List<Cmd> cmds = recorded;
        recorded = new ArrayList<>();
        if (mode == Mode.CAPTURE) {
            CUgraph_st graph = new CUgraph_st();
            int status = cuStreamEndCapture(stream, graph);
            CUgraphExec_st exec = new CUgraphExec_st();
            if (status == 0 && !cmds.isEmpty()) status = cuGraphInstantiate(exec, graph, 0);
            if (status == 0) {
                cuGraphDestroy(graph);
                if (!cmds.isEmpty()) {
                    launchGraph(exec);
                    capturedExecs.add(exec);
                    capturedSegments.add(cmds);
                }
                if (more) check(cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture");
                else {
                    graphs.put(key, new Graph(List.copyOf(capturedExecs), List.copyOf(capturedSegments)));
                    captures++;
                }
            } else {
                // Capture failed: this segment did not run. Never graph this shape; run it, and the rest, eagerly.
                for (CUgraphExec_st e : capturedExecs) cuGraphExecDestroy(e);
                unfit.add(key);
                mode = Mode.EAGER;
                for (Cmd c : cmds) run(c);
            }
        } else if (mode == Mode.RECORD) {
            Graph g = graphs.get(key);
            boolean same = g != null && (cmds.isEmpty() && segment == g.segments.size() && !more
                    || segment < g.segments.size() && cmds.equals(g.segments.get(segment)) && (more || segment == g.segments.size() - 1));
            if (same) {
                if (!cmds.isEmpty()) {
                    if (segment == 0) {
                        replayHostNanos += System.nanoTime() - stepStart;
                        replays++;
                    }
                    launchGraph(g.execs.get(segment));
                }
            } else {
                mode = Mode.EAGER;
                for (Cmd c : cmds) run(c);
                drop(key);
            }
        }
        segment++;
    }

    private void launchGraph(CUgraphExec_st exec) {
        if (segment == 0) check(cuEventRecord(graphStart, stream), "cuEventRecord");
        check(cuGraphLaunch(exec, stream), "cuGraphLaunch");
        check(cuEventRecord(graphEnd, stream), "cuEventRecord");
        graphTimed = true;
        graphLaunches++;
    }

    /** Everything issued so far must reach the device now: the host is about to read a result. */
    void syncPoint() {
        syncsThisStep++;
        if (mode != Mode.EAGER) endSegment(false);
        mode = Mode.EAGER;
        recorded = null;
    }

    /** The step ends: unsubmitted work is issued; a shape read back more than once per step is not graphed. */
    void endStep() {
        if (mode != Mode.EAGER) syncPoint();
        if (syncsThisStep > 1 && key != null && unfit.add(key)) drop(key);
        key = null;
    }

    /** After an error inside a step: leave capture, forget what was recorded. */
    void abortStep() {
        if (mode == Mode.CAPTURE) {
            CUgraph_st graph = new CUgraph_st();
            cuStreamEndCapture(stream, graph);
            if (!graph.isNull()) cuGraphDestroy(graph);
            for (CUgraphExec_st e : capturedExecs) cuGraphExecDestroy(e);
        }
        if (key != null) { unfit.add(key); drop(key); }
        mode = Mode.EAGER;
        recorded = null;
        key = null;
    }

    /** Device addresses baked into graphs have changed (a pool or table moved): forget every graph. */
    void invalidateGraphs() {
        for (String k : List.copyOf(graphs.keySet())) drop(k);
        seen.clear();
    }

    private void drop(String k) {
        Graph g = graphs.remove(k);
        if (g != null) for (CUgraphExec_st e : g.execs) cuGraphExecDestroy(e);
        seen.remove(k);
    }

    void synchronize() { check(cuStreamSynchronize(stream), "cuStreamSynchronize"); }

    @Override public void close() {
        invalidateGraphs();
        for (Timed t : timed) { spareEvents.add(t.start); spareEvents.add(t.end); }
        for (CUevent_st e : spareEvents) cuEventDestroy(e);
        cuEventDestroy(graphStart);
        cuEventDestroy(graphEnd);
        cublasDestroy_v2(cublas);
        cuMemFree(workspace);
        cuStreamDestroy(stream);
    }
}
