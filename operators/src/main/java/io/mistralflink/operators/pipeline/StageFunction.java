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
        String device = Backends.forSlot(config.device(), stage * task.getNumberOfParallelSubtasks() + task.getIndexOfThisSubtask());
        backend = Backends.open(device, config.effectiveThreads());
        shard = Shard.load(checkpoint, b[stage], b[stage + 1], backend);
        caches = new HashMap<>();
        failures = FailureLog.of(getRuntimeContext());
    }

    /** A step that throws fails the job; its requests are noted first (see {@link FailureLog}). */
    @Override public void processElement(MicroBatchFrame f, Context ctx, Collector<MicroBatchFrame> out) throws Exception {
        try {
            step(f, ctx, out);
        } catch (Throwable t) {
            if (failures != null) failures.record(StepMeta.requestIds(f), t);
            throw t;
        }
    }

    private void step(MicroBatchFrame f, Context ctx, Collector<MicroBatchFrame> out) {
        FailureInjection.check(FailureInjection.Point.STAGE, "stage " + stage);
        FailureInjection.checkPoison(f, "stage " + stage);
        Map<String, KvCache> lane = caches.computeIfAbsent(ctx.getCurrentKey(), k -> new HashMap<>());
        for (String id : StepMeta.releases(f)) release(lane, id);
        List<Chunk> chunks = new ArrayList<>();
        int[] allTokens = f.tokens();
        for (int r = 0; r < f.rows(); ) {
            String id = f.requestId(r);
            int start = r;
            while (r < f.rows() && f.requestId(r).equals(id)) r++;
            int[] tokens = java.util.Arrays.copyOfRange(allTokens, start, r);
            chunks.add(new Chunk(cacheFor(lane, id, f.position(start)), f.position(start), tokens,
                    f.hasFlag(start, MicroBatchFrame.FLAG_SCORE) ? Chunk.Logits.ALL
                            : f.hasFlag(r - 1, MicroBatchFrame.FLAG_LOGITS) ? Chunk.Logits.LAST : Chunk.Logits.NONE));
        }
        boolean scores = chunks.stream().anyMatch(c -> c.logits() == Chunk.Logits.ALL);
        MicroBatchFrame next;
        float[] hidden = f.width() > 0 ? f.values() : null;
        if (!shard.isLast()) {
            next = f.withValues(shard.outputWidth(), chunks.isEmpty() ? new float[0] : shard.forward(chunks, hidden));
        } else if (scores) {
            // Teacher forcing: one row back per scored chunk, carrying how many positions it scored; their
            // summed loss travels in the frame's metadata.
            int[] after = new int[chunks.size()], lastRow = new int[chunks.size()];
            for (int i = 0, r = 0; i < chunks.size(); i++) {
                r += chunks.get(i).length();
                lastRow[i] = r - 1;
                after[i] = StepMeta.target(f, f.requestId(r - 1));
            }
            double[] nll = shard.score(chunks, hidden, after);
            MicroBatchFrame.Builder b = MicroBatchFrame.builder().meta(f.meta()).width(0);
            for (int i = 0; i < chunks.size(); i++) {
                Chunk c = chunks.get(i);
                if (c.logits() != Chunk.Logits.ALL) continue;
                String id = f.requestId(lastRow[i]);
                b.row(id, f.position(lastRow[i]), c.length() - (after[i] < 0 ? 1 : 0), MicroBatchFrame.FLAG_SCORE);
                b.meta(StepMeta.NLL + id, Double.toString(nll[i]));
            }
            next = b.build();
        } else {
            // The last stage draws the tokens itself (on a GPU, only token ids leave the device) and
            // sends on one row per sampling chunk, carrying the drawn token.
            SamplingParams[] params = new SamplingParams[chunks.size()];
            int[] steps = new int[chunks.size()], lastRow = new int[chunks.size()];
            for (int i = 0, r = 0; i < chunks.size(); i++) {
                r += chunks.get(i).length();
                lastRow[i] = r - 1;
                if (chunks.get(i).logits() == Chunk.Logits.LAST) {
                    StepMeta.Draw d = StepMeta.draw(f, f.requestId(r - 1));
                    params[i] = d.params();
                    steps[i] = d.step();
                }
            }
            int[] drawn = chunks.isEmpty() ? new int[0] : shard.sample(chunks, hidden, params, steps);
            MicroBatchFrame.Builder b = MicroBatchFrame.builder().meta(f.meta()).width(0);
            for (int i = 0; i < chunks.size(); i++)
                if (params[i] != null) b.row(f.requestId(lastRow[i]), f.position(lastRow[i]), drawn[i], MicroBatchFrame.FLAG_LOGITS);
            next = b.build();
        }
        out.collect(next.withMeta(MicroBatchFrame.META_STAGE, Integer.toString(stage)));
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
