package io.mistralflink.job.bench;

import io.mistralflink.job.common.Examples;
import io.mistralflink.job.common.Json;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.bench.Bench;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.sql.SqlRunner;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code bench-sql}: the same prompts (Brown paragraphs, each generating exactly --new-tokens, EOS ignored)
 * through the engine alone at batch B (continuous batching, at most B sequences at once), through
 * {@code ML_PREDICT} with B rows in flight (the async buffer), and through the DataStream pipeline of
 * {@code batch} (one stage, one lane of B sequences), interleaved per repeat in one process. SQL and
 * pipeline wall times include the job's start on a fresh MiniCluster; the start is measured apart
 * with a one-row query, and the pipeline's time from first admission to last completion is given too.
 */
public final class SqlBench {
    /** {@code requests} prompts generating {@code newTokens} each, {@code batch} at once, {@code repeat} times. */
    public record Settings(Path model, int requests, int newTokens, int batch, int maxBatchTokens, int repeat, int threads) {}

    record Report(String model, int requests, int newTokens, int batch, long tokens, int cores, List<Run> runs) {}

    record Run(long engineTokS, long engineTokPerCpuS, long sqlTokPerCpuS, long pipelineTokPerCpuS, double sqlWallS, double sqlStartS,
               long sqlTokS, long sqlTokSWithoutStart, double pipelineWallS, long pipelineTokS, long pipelineTokSAdmissionToLast) {}

    /** A row of the prompts table. */
    record PromptRow(String id, String prompt) {}

    private SqlBench() {}

    public static int run(Settings s, PrintStream out) throws Exception {
        Path dir = s.model().toAbsolutePath();
        int n = s.requests(), gen = s.newTokens(), batch = s.batch(), budget = s.maxBatchTokens(), repeat = s.repeat(), threads = s.threads();
        ModelConfig m = ModelConfig.load(dir);
        List<String> prompts = prompts(n);
        List<int[]> ids = new ArrayList<>();
        try (Tokenizer tok = Tokenizer.load(dir)) { for (String p : prompts) ids.add(tok.encode(p)); }
        long tokens = (long) n * gen + ids.stream().mapToLong(x -> x.length).sum();

        Path jsonl = Files.createTempFile("bench-sql-", ".jsonl");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) b.append(Json.line(new PromptRow("b" + i, prompts.get(i)))).append('\n');
        Files.writeString(jsonl, b);
        Path one = Files.writeString(Files.createTempFile("bench-sql-one-", ".jsonl"), Json.line(new PromptRow("x", "The jury")) + "\n");
        String model = "CREATE TEMPORARY MODEL llm INPUT (prompt STRING) OUTPUT (completion_tokens INT) WITH ('provider' = 'mistral-flink', "
                + "'model' = '" + dir + "', 'max-new-tokens' = '" + gen + "', 'ignore-eos' = 'true', 'max-batch-tokens' = '" + budget
                + "', 'threads' = '" + threads + "');\nSET 'table.exec.async-ml-predict.max-concurrent-operations' = '" + batch + "';\n";
        String table = "CREATE TEMPORARY TABLE prompts (id STRING, prompt STRING) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'json');\n";
        String query = "SELECT SUM(completion_tokens) AS tokens FROM ML_PREDICT(TABLE prompts, MODEL llm, DESCRIPTOR(prompt))";
        String sql = table.formatted(jsonl) + model + query, startup = table.formatted(one) + model + query;

        List<InferenceRequest> reqs = new ArrayList<>();
        for (int i = 0; i < n; i++) reqs.add(new InferenceRequest("b" + i, "", Bench.toLength(gen), Map.of(), 0, ids.get(i)));
        PipelineConfig cfg = PipelineConfig.builder(dir.toString()).stages(1).lanes(1).sequencesPerLane(batch)
                .maxBatchTokens(budget).threadsPerStage(threads).build();
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());

        List<Run> runs = new ArrayList<>();
        try (Checkpoint c = Checkpoint.open(dir); Backend be = io.mistralflink.model.compute.Backends.open("cpu", threads)) {
            Shard shard = Shard.whole(c, be);
            engineSeconds(shard, m, ids.subList(0, Math.min(n, 2 * batch)), gen, batch, budget); // JIT warm-up
            SqlRunner.run(startup, false, quiet); // the table planner's and the job's classes loaded
            for (int r = 0; r < repeat; r++) {
                long c0 = cpu();
                double engine = engineSeconds(shard, m, ids, gen, batch, budget);
                double engineCpu = (cpu() - c0) / 1e9;
                long t0 = System.nanoTime();
                SqlRunner.run(startup, false, quiet);
                double start = (System.nanoTime() - t0) / 1e9;
                t0 = System.nanoTime();
                c0 = cpu();
                SqlRunner.run(sql, false, quiet);
                double sqlWall = (System.nanoTime() - t0) / 1e9, sqlCpu = (cpu() - c0) / 1e9;
                t0 = System.nanoTime();
                c0 = cpu();
                double pipelineActive = PipelineBench.pipelineSeconds(cfg, reqs);
                double pipelineWall = (System.nanoTime() - t0) / 1e9, pipelineCpu = (cpu() - c0) / 1e9;
                runs.add(new Run(Math.round(tokens / engine), Math.round(tokens / engineCpu), Math.round(tokens / sqlCpu),
                        Math.round(tokens / pipelineCpu), round(sqlWall), round(start), Math.round(tokens / sqlWall),
                        Math.round(tokens / Math.max(1e-3, sqlWall - start)), round(pipelineWall), Math.round(tokens / pipelineWall),
                        Math.round(tokens / pipelineActive)));
                out.printf("run %d: engine batch %d %.0f tok/s | ML_PREDICT %.0f tok/s (%.1f s wall, %.1f s of it job start; %.0f tok/s without) "
                                + "| pipeline %.0f tok/s wall (%.1f s), %.0f tok/s first admission to last completion%n",
                        r + 1, batch, tokens / engine, tokens / sqlWall, sqlWall, start, tokens / Math.max(1e-3, sqlWall - start),
                        tokens / pipelineWall, pipelineWall, tokens / pipelineActive);
                out.printf("       per CPU second of the process: engine %.0f | ML_PREDICT %.0f | pipeline %.0f tok%n",
                        tokens / engineCpu, tokens / sqlCpu, tokens / pipelineCpu);
            }
        } finally {
            Files.deleteIfExists(jsonl);
            Files.deleteIfExists(one);
        }
        out.println(Json.line(new Report(dir.getFileName().toString(), n, gen, batch, tokens, Runtime.getRuntime().availableProcessors(), runs)));
        return 0;
    }

    /** CPU time of the whole process (every thread: the engine's, Flink's), nanoseconds. */
    private static long cpu() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static double round(double s) { return Math.round(s * 100) / 100.0; }

    /** The engine alone: continuous batching with at most {@code batch} sequences at once, refilled as they finish. */
    static double engineSeconds(Shard model, ModelConfig m, List<int[]> prompts, int gen, int batch, int budget) {
        Generator g = new Generator(model, null, budget);
        ArrayDeque<Sequence> waiting = new ArrayDeque<>();
        for (int i = 0; i < prompts.size(); i++) waiting.add(new Sequence("e" + i, prompts.get(i), Bench.toLength(gen), m.eosId(), m.maxPositions()));
        List<Sequence> active = new ArrayList<>();
        Map<Sequence, KvCache> caches = new IdentityHashMap<>();
        long t0 = System.nanoTime();
        while (!waiting.isEmpty() || !active.isEmpty()) {
            while (active.size() < batch && !waiting.isEmpty()) {
                Sequence s = waiting.poll();
                active.add(s);
                caches.put(s, model.newCache());
            }
            g.step(active, caches::get);
            active.removeIf(s -> {
                if (!s.finished()) return false;
                caches.remove(s).close();
                return true;
            });
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    /** n Brown paragraphs of 100 to 400 characters (tens of tokens, some longer than the window). */
    private static List<String> prompts(int n) throws Exception {
        Path brown = Examples.brown();
        List<String> out = new ArrayList<>();
        try (var in = new BufferedReader(new InputStreamReader(new XZInputStream(Files.newInputStream(brown)), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null && out.size() < n; )
                for (String p : Json.MAPPER.readTree(line).get("text").asText().split("\n"))
                    if (p.length() >= 100 && out.size() < n) out.add(p.substring(0, Math.min(p.length(), 100 + out.size() % 7 * 50)));
        }
        if (out.size() < n) throw new IllegalStateException("the Brown corpus has only " + out.size() + " paragraphs of 100 characters");
        return out;
    }
}
