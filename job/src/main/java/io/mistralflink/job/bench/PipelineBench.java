package io.mistralflink.job.bench;

import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.common.Json;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.bench.Bench;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.operators.pipeline.StepClock;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code bench-pipeline}: the same requests through the engine alone and through the Flink pipeline
 * for each (stages, lanes), in one process. Pipeline time runs from the first admission to the last
 * completion, so job start-up is left out; tokens are prompt plus generated. With {@code --device cuda}
 * the engine and every stage run on the GPU (P stages of one process share it).
 */
public final class PipelineBench {
    /** What to measure: {@code requests} prompts of {@code promptTokens} plus {@code newTokens} each, for every (stages, lanes). */
    public record Settings(Path model, int requests, int promptTokens, int newTokens, int maxBatchTokens, int repeat, int[] stages,
                           int[] lanes, int bufferTimeoutMs, String device) {}

    /** The report, the last line of the output. */
    record Report(String model, int requests, int promptTokens, int newTokens, int cores, String device, long engineTokS, int engineSteps, List<Row> pipeline) {}

    /**
     * The best of the repeats (its timed window in seconds), and where its time went: per subtask of each stage its busy time against
     * the timed window (the bubble is the rest), per subtask of the scheduler its host work around a step.
     */
    record Row(int stages, int lanes, long tokS, double vsEngine, double windowS, List<TaskTimes> times) {}

    /**
     * One operator subtask's {@link StepClock} phases over the timed window: {@code busyFraction} (a stage's
     * busy time over the window's wall time, null for the scheduler), and per phase its microseconds per step.
     */
    record TaskTimes(String operator, int subtask, long steps, Double busyFraction, Map<String, Double> perStepUs) {}

    /** A timed run: the window's seconds and what each operator's clock counted in it. */
    public record Run(double seconds, Map<StepTimes.Task, Map<StepClock.Phase, Long>> times) {}

    private PipelineBench() {}

    /** @param backend the engine alone's (the pipeline's stages open their own on {@code settings.device()}) */
    public static int run(Settings s, Backend backend, PrintStream out) throws Exception {
        Path dir = s.model();
        int n = s.requests(), prompt = s.promptTokens(), gen = s.newTokens(), budget = s.maxBatchTokens();
        int cores = Runtime.getRuntime().availableProcessors();
        ModelConfig m = ModelConfig.load(dir);
        List<InferenceRequest> reqs = requests(m, n, prompt, gen);
        long tokens = (long) n * (prompt + gen);

        // The engine alone before the pipelines and again after them, the best counting: on a loaded machine
        // the first runs of a JVM still share the cores with its JIT compiler.
        Engine before = engine(dir, backend, reqs, tokens, budget, 2 + s.repeat()); // the first runs warm the JIT up
        List<Run> runs = new ArrayList<>();
        List<int[]> shapes = new ArrayList<>();
        for (int p : s.stages())
            for (int l : s.lanes()) {
                PipelineConfig cfg = PipelineConfig.builder(dir.toAbsolutePath().toString()).stages(p).lanes(l)
                        .sequencesPerLane((n + l - 1) / l).maxBatchTokens(budget)
                        .bufferTimeoutMs(s.bufferTimeoutMs()).threadsPerStage(Math.max(1, cores / p)).device(s.device()).build();
                Run best = null;
                for (int i = 0; i < s.repeat(); i++) {
                    Run run = pipelineRun(cfg, reqs);
                    if (best == null || run.seconds() < best.seconds()) best = run;
                }
                runs.add(best);
                shapes.add(new int[]{p, l});
            }
        Engine after = engine(dir, backend, reqs, tokens, budget, s.repeat());
        double engine = Math.max(before.tokS(), after.tokS());
        out.printf("engine alone, batch %d: %.0f tok/s before the pipelines, %.0f after, %d steps%n", n, before.tokS(), after.tokS(), after.steps());
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            Run best = runs.get(i);
            int p = shapes.get(i)[0], l = shapes.get(i)[1];
            double tokS = tokens / best.seconds();
            List<TaskTimes> times = times(best);
            rows.add(new Row(p, l, Math.round(tokS), Math.round(tokS / engine * 100) / 100.0, best.seconds(), times));
            out.printf("pipeline P=%d L=%d: %.0f tok/s (%.2f x the engine's best) in %.3f s%n", p, l, tokS, tokS / engine, best.seconds());
            for (TaskTimes t : times) out.println("  " + describe(t));
        }
        out.println(Json.line(new Report(dir.getFileName().toString(), n, prompt, gen, cores, backend.name(), Math.round(engine), after.steps(), rows)));
        return 0;
    }

    private record Engine(double tokS, int steps) {}

    /** The engine alone over the requests, {@code runs} times: the best tokens/s and the steps a run takes. */
    private static Engine engine(Path dir, Backend backend, List<InferenceRequest> reqs, long tokens, int budget, int runs) {
        ModelConfig m = ModelConfig.load(dir);
        double best = 0;
        int steps = 0;
        try (Checkpoint c = Checkpoint.open(dir)) {
            Shard model = Shard.whole(c, backend);
            for (int i = 0; i < runs; i++) {
                List<Sequence> seqs = new ArrayList<>();
                for (InferenceRequest r : reqs) seqs.add(new Sequence(r.id(), r.promptIds(), r.params(), m.eosId(), m.maxPositions()));
                long t0 = System.nanoTime();
                steps = new Generator(model, null, budget).run(seqs).steps();
                best = Math.max(best, tokens / ((System.nanoTime() - t0) / 1e9));
            }
        }
        return new Engine(best, steps);
    }

    /**
     * Pipeline seconds from the first admission to the last completion. A warm-up request goes first and
     * the measured ones follow only once its completion is back, so that stage start-up (weights upload,
     * kernel compilation) is not timed: with two stages or more the scheduler's task would otherwise
     * admit requests while the stages' tasks are still opening.
     */
    public static double pipelineSeconds(PipelineConfig cfg, List<InferenceRequest> reqs) throws Exception {
        return pipelineRun(cfg, reqs).seconds();
    }

    /** {@link #pipelineSeconds}, with the operators' step clocks read at the start and the end of the window. */
    public static Run pipelineRun(PipelineConfig cfg, List<InferenceRequest> reqs) throws Exception {
        StepTimes.reset();
        StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(cfg, StepTimes.install(new Configuration()));
        InferenceRequest first = reqs.get(0);
        InferenceRequest warmUp = new InferenceRequest(WARM_UP, "", Bench.toLength(2), Map.of(), 0,
                java.util.Arrays.copyOf(first.promptIds(), Math.min(8, first.promptIds().length)));
        GatedRequests.released = new CountDownLatch(1);
        var source = new DataGeneratorSource<>(new GatedRequests(warmUp, reqs), reqs.size() + 1, TypeInformation.of(InferenceRequest.class));
        var input = env.fromSource(source, WatermarkStrategy.noWatermarks(), "requests").setParallelism(1).disableChaining();
        long start = Long.MAX_VALUE, last = 0;
        Map<StepTimes.Task, Map<StepClock.Phase, Long>> before = Map.of();
        try (CloseableIterator<CompletionResult> it = Pipeline.build(input, cfg).executeAndCollect()) {
            while (it.hasNext()) {
                CompletionResult c = it.next();
                if (c.refused()) throw new IllegalStateException(c.id() + ": " + c.error());
                if (c.id().equals(WARM_UP)) {
                    before = StepTimes.snapshot(); // the warm-up's steps are done; the measured ones start after this
                    GatedRequests.released.countDown();
                    continue;
                }
                // receivedMillis is 0, so queuedMs is the admission time itself.
                start = Math.min(start, c.queuedMs());
                last = Math.max(last, c.queuedMs() + c.prefillMs() + c.decodeMs());
            }
        } finally {
            GatedRequests.released.countDown();
        }
        return new Run((last - start) / 1e3, StepTimes.between(before, StepTimes.snapshot()));
    }

    private static List<TaskTimes> times(Run run) {
        List<TaskTimes> out = new ArrayList<>();
        run.times().forEach((task, phases) -> {
            long steps = phases.getOrDefault(StepClock.Phase.STEPS, 0L);
            Long busy = phases.get(StepClock.Phase.BUSY);
            Map<String, Double> perStep = new LinkedHashMap<>();
            phases.forEach((p, nanos) -> {
                if (p != StepClock.Phase.STEPS) perStep.put(p.name().toLowerCase(Locale.ROOT), steps == 0 ? 0 : Math.round(nanos / 1e2 / steps) / 10.0);
            });
            out.add(new TaskTimes(task.operator(), task.subtask(), steps,
                    busy == null ? null : Math.round(busy / (run.seconds() * 1e9) * 1000) / 1000.0, perStep));
        });
        return out;
    }

    private static String describe(TaskTimes t) {
        StringBuilder b = new StringBuilder(t.operator() + " #" + t.subtask() + ": " + t.steps() + " steps");
        if (t.busyFraction() != null) b.append(String.format(Locale.ROOT, ", busy %.1f%% of the window", t.busyFraction() * 100));
        b.append("; per step");
        t.perStepUs().forEach((p, us) -> b.append(String.format(Locale.ROOT, " %s %.1f us", p, us)));
        return b.toString();
    }

    private static final String WARM_UP = "bench-warm-up";

    /** The warm-up request, then (once released, in this JVM's MiniCluster) the measured ones. */
    private record GatedRequests(InferenceRequest warmUp, List<InferenceRequest> reqs) implements GeneratorFunction<Long, InferenceRequest> {
        static volatile CountDownLatch released;

        @Override public InferenceRequest map(Long i) throws Exception {
            if (i == 0) return warmUp;
            if (i == 1) released.await();
            return reqs.get((int) (i - 1));
        }
    }

    /** n random prompts of exactly promptTokens tokens, greedy, EOS ignored so every request runs to length. */
    static List<InferenceRequest> requests(ModelConfig m, int n, int promptTokens, int newTokens) {
        int[][] prompts = Bench.randomPrompts(m, n, promptTokens, 7);
        List<InferenceRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new InferenceRequest("bench-" + i, "", Bench.toLength(newTokens), Map.of(), 0, prompts[i]));
        return out;
    }
}
