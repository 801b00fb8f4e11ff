package io.mistralflink.job;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
final class SqlBench {
    static final List<String> OPTIONS = List.of("model", "requests", "new-tokens", "batch", "max-batch-tokens", "repeat", "threads");
    private static final ObjectMapper JSON = new ObjectMapper();

    private SqlBench() {}

    static int run(Args a, PrintStream out) throws Exception {
        Path dir = Path.of(a.required("model")).toAbsolutePath();
        int n = a.integer("requests", 256), gen = a.integer("new-tokens", 64), batch = a.integer("batch", 32);
        int budget = a.integer("max-batch-tokens", 512), repeat = a.integer("repeat", 2);
        int threads = a.integer("threads", Runtime.getRuntime().availableProcessors());
        ModelConfig m = ModelConfig.load(dir);
        List<String> prompts = prompts(n);
        List<int[]> ids = new ArrayList<>();
        try (Tokenizer tok = Tokenizer.load(dir)) { for (String p : prompts) ids.add(tok.encode(p)); }
        long tokens = (long) n * gen + ids.stream().mapToLong(x -> x.length).sum();

        Path jsonl = Files.createTempFile("bench-sql-", ".jsonl");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) b.append(JSON.createObjectNode().put("id", "b" + i).put("prompt", prompts.get(i))).append('\n');
        Files.writeString(jsonl, b);
        Path one = Files.writeString(Files.createTempFile("bench-sql-one-", ".jsonl"), JSON.createObjectNode().put("id", "x").put("prompt", "The jury") + "\n");
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

        ObjectNode report = JSON.createObjectNode();
        report.put("model", dir.getFileName().toString()).put("requests", n).put("new_tokens", gen).put("batch", batch)
                .put("tokens", tokens).put("cores", Runtime.getRuntime().availableProcessors());
        ArrayNode runs = report.putArray("runs");
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
                ObjectNode run = runs.addObject();
                run.put("engine_tok_s", Math.round(tokens / engine));
                run.put("engine_tok_per_cpu_s", Math.round(tokens / engineCpu)).put("sql_tok_per_cpu_s", Math.round(tokens / sqlCpu))
                        .put("pipeline_tok_per_cpu_s", Math.round(tokens / pipelineCpu));
                run.put("sql_wall_s", round(sqlWall)).put("sql_start_s", round(start));
                run.put("sql_tok_s", Math.round(tokens / sqlWall)).put("sql_tok_s_without_start", Math.round(tokens / Math.max(1e-3, sqlWall - start)));
                run.put("pipeline_wall_s", round(pipelineWall)).put("pipeline_tok_s", Math.round(tokens / pipelineWall))
                        .put("pipeline_tok_s_admission_to_last", Math.round(tokens / pipelineActive));
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
        out.println(report);
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
        Path brown = Path.of(System.getProperty("mistral.flink.home", ".")).resolve("examples/datasets/brown.jsonl.xz");
        List<String> out = new ArrayList<>();
        try (var in = new BufferedReader(new InputStreamReader(new XZInputStream(Files.newInputStream(brown)), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null && out.size() < n; )
                for (String p : JSON.readTree(line).get("text").asText().split("\n"))
                    if (p.length() >= 100 && out.size() < n) out.add(p.substring(0, Math.min(p.length(), 100 + out.size() % 7 * 50)));
        }
        if (out.size() < n) throw new IllegalStateException("the Brown corpus has only " + out.size() + " paragraphs of 100 characters");
        return out;
    }
}
