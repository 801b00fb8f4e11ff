package io.mistralflink.operators.pipeline;

import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.layers.Chunk;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.operators.frame.MicroBatchFrame;
import org.apache.flink.api.common.functions.OpenContext;
import io.mistralflink.model.compute.Backends;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One pipeline stage, keyed by lane: runs its shard of layers over a step frame through the engine;
 * the last stage also draws each sampling row's token with its request's parameters and step.
 * The operator holds, per lane (the key) and request, the rolling caches of the lane's sequences for
 * this shard's layers. Caches are derived from tokens: a chunk at position 0 starts a fresh cache, and
 * after a restore the scheduler re-feeds every sequence from position 0, so they are not Flink state
 * at all: nothing of them is checkpointed, and any state backend (heap or RocksDB, which serializes
 * every access) serves the job.
 */
public final class StageFunction extends KeyedProcessFunction<String, MicroBatchFrame, MicroBatchFrame> {
    private static final AtomicLong LIVE_CACHES = new AtomicLong();

    private final PipelineConfig config;
    private final int stage;
    private transient Checkpoint checkpoint;
    private transient Backend backend;
    private transient Shard shard;
    /** Lane key -> request id -> cache: device or host memory handles, owned here, never serialized. */
    private transient Map<String, Map<String, KvCache>> caches;
    private transient FailureLog failures;
    private transient StepClock clock;

    public StageFunction(PipelineConfig config, int stage) {
        this.config = config;
        this.stage = stage;
    }

    /** Caches held by every stage of this JVM: zero once every sequence has finished. */
    public static long liveCaches() { return LIVE_CACHES.get(); }

    @Override public void open(OpenContext ctx) {
        checkpoint = Checkpoint.open(Path.of(config.modelDir()));
        int[] b = config.boundaries(checkpoint.config());
        var task = getRuntimeContext().getTaskInfo();
        backend = Backends.open(config.deviceOf(stage, task.getIndexOfThisSubtask()), config.effectiveThreads());
        shard = Shard.load(checkpoint, b[stage], b[stage + 1], backend);
        caches = new HashMap<>();
        failures = FailureLog.of(getRuntimeContext());
        clock = new StepClock(getRuntimeContext().getMetricGroup(), StepClock.Phase.BUSY, StepClock.Phase.DECODE,
                StepClock.Phase.ENGINE, StepClock.Phase.ENCODE, StepClock.Phase.EMIT, StepClock.Phase.STEPS);
    }

    /** A step that throws fails the job; its requests are noted first (see {@link FailureLog}). */
    @Override public void processElement(MicroBatchFrame f, Context ctx, Collector<MicroBatchFrame> out) throws Exception {
        long t0 = StepClock.now();
        try {
            step(f, ctx, out, t0);
            clock.lap(StepClock.Phase.BUSY, t0);
            clock.step();
        } catch (Throwable t) {
            if (failures != null) failures.record(f.requestIds(), t);
            throw t;
        }
    }

    private void step(MicroBatchFrame f, Context ctx, Collector<MicroBatchFrame> out, long t0) {
        FailureInjection.check(FailureInjection.Point.STAGE, "stage " + stage);
        FailureInjection.checkPoison(FailureInjection.Point.STAGE, f, "stage " + stage);
        Map<String, KvCache> lane = caches.computeIfAbsent(ctx.getCurrentKey(), k -> new HashMap<>());
        Step step = StepCodec.decode(f);
        for (String id : step.releases()) release(lane, id);
        List<Chunk> chunks = new ArrayList<>(step.parts().size());
        for (Step.Part p : step.parts())
            chunks.add(new Chunk(cacheFor(lane, p.requestId(), p.start()), p.start(), p.tokens(),
                    step.kind() == Step.Kind.SCORE ? Chunk.Logits.ALL : p.draw() != null ? Chunk.Logits.LAST : Chunk.Logits.NONE));
        float[] hidden = f.width() > 0 ? f.values() : null;
        long t = clock.lap(StepClock.Phase.DECODE, t0);
        // The last stage draws the tokens itself (on a GPU only token ids leave the device), or scores:
        // either way one small row per sequence goes on, never a row of logits.
        MicroBatchFrame next;
        if (!shard.isLast()) {
            float[] forward = chunks.isEmpty() ? new float[0] : shard.forward(chunks, hidden);
            t = clock.lap(StepClock.Phase.ENGINE, t);
            next = f.withValues(shard.outputWidth(), forward);
        } else if (step.kind() == Step.Kind.SCORE) {
            double[] nll = shard.score(chunks, hidden, targets(step));
            t = clock.lap(StepClock.Phase.ENGINE, t);
            next = StepCodec.scored(step, nll);
        } else {
            int[] drawn = chunks.isEmpty() ? new int[0] : shard.sample(chunks, hidden, params(step), drawSteps(step));
            t = clock.lap(StepClock.Phase.ENGINE, t);
            next = StepCodec.drawn(step, drawn);
        }
        next = next.withMeta(MicroBatchFrame.META_STAGE, Integer.toString(stage));
        t = clock.lap(StepClock.Phase.ENCODE, t);
        out.collect(next);
        clock.lap(StepClock.Phase.EMIT, t);
    }

    private static int[] targets(Step s) {
        return s.parts().stream().mapToInt(Step.Part::target).toArray();
    }

    private static SamplingParams[] params(Step s) {
        return s.parts().stream().map(p -> p.draw() == null ? null : p.draw().params()).toArray(SamplingParams[]::new);
    }

    private static int[] drawSteps(Step s) {
        return s.parts().stream().mapToInt(p -> p.draw() == null ? 0 : p.draw().step()).toArray();
    }

    private KvCache cacheFor(Map<String, KvCache> lane, String id, int start) {
        KvCache c = lane.get(id);
        if (start == 0) {
            if (c != null) release(lane, id);
            c = shard.newCache();
            lane.put(id, c);
            LIVE_CACHES.incrementAndGet();
        } else if (c == null) {
            throw new IllegalStateException("stage " + stage + ": no cache for " + id + " at position " + start
                    + " (a restored sequence must be re-fed from position 0)");
        }
        return c;
    }

    private void release(Map<String, KvCache> lane, String id) {
        KvCache c = lane.remove(id);
        if (c == null) return;
        c.close();
        LIVE_CACHES.decrementAndGet();
    }

    @Override public void close() {
        if (caches != null) {
            for (Map<String, KvCache> lane : caches.values()) for (String id : List.copyOf(lane.keySet())) release(lane, id);
            caches = null;
        }
        if (backend != null) backend.close();
        if (checkpoint != null) checkpoint.close();
    }
}
