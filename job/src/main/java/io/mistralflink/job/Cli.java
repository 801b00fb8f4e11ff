package io.mistralflink.job;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.ModelException;
import io.mistralflink.model.bench.Bench;
import io.mistralflink.model.bench.FmaPeak;
import io.mistralflink.model.bench.MemoryBandwidth;
import io.mistralflink.model.bench.RandomCheckpoint;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** {@code bin/mistral-flink COMMAND [options]}: the engine alone (generate, score, bench) and the Flink job. */
public final class Cli {
    static final ObjectMapper JSON = new ObjectMapper();

    private Cli() {}

    public static void main(String[] argv) {
        int code;
        try {
            code = run(argv, System.out);
        } catch (Args.UsageException e) {
            System.err.println("mistral-flink: " + e.getMessage());
            code = 2;
        } catch (OutOfMemoryError e) {
            System.err.println("mistral-flink: " + outOfMemory(argv));
            code = 1;
        } catch (ModelException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("mistral-flink: " + e.getMessage());
            code = 1;
        } catch (Exception e) {
            System.err.println("mistral-flink: " + e);
            code = 1;
        }
        System.out.flush();
        System.exit(code);
    }

    /** Options whose values size what a command holds in memory, in the order to look at them. */
    private static final List<String> MEMORY_OPTIONS = List.of("layers", "batch-sizes", "prompt-tokens", "new-tokens", "max-new-tokens",
            "sequences-per-lane", "lanes", "max-batch-tokens", "parallelism", "stages", "count", "requests", "max-tokens", "threads");

    /** One line for an OutOfMemoryError: the heap, the options that drove it, and how to get more. */
    static String outOfMemory(String[] argv) {
        List<String> given = new java.util.ArrayList<>();
        for (int i = 1; i + 1 < argv.length; i++)
            if (argv[i].startsWith("--") && MEMORY_OPTIONS.contains(argv[i].substring(2))) given.add(argv[i] + " " + argv[i + 1]);
        long heap = Runtime.getRuntime().maxMemory() >> 20;
        return "out of memory (a heap of " + heap + " MB)" + (given.isEmpty() ? "" : ": lower " + String.join(" or ", given))
                + ", or give the JVM more (MISTRAL_FLINK_JAVA_OPTS=-Xmx...)";
    }

    static int run(String[] argv, PrintStream out) throws Exception {
        if (argv.length == 0 || argv[0].equals("--help") || argv[0].equals("help")) {
            out.println(USAGE);
            return argv.length == 0 ? 2 : 0;
        }
        String cmd = argv[0];
        return switch (cmd) {
            case "generate" -> generate(new Args(cmd, argv, 1,
                    List.of("model", "prompt", "prompt-file", "max-new-tokens", "temperature", "top-p", "top-k", "min-p", "seed", "device", "threads"),
                    List.of("ignore-eos", "json")), out);
            case "score" -> score(new Args(cmd, argv, 1, List.of("model", "text", "text-file", "device", "threads"), List.of("json")), out);
            case "bench" -> bench(new Args(cmd, argv, 1,
                    List.of("model", "random-model", "layers", "batch-sizes", "prompt-tokens", "new-tokens", "device", "threads"),
                    List.of("json")), out);
            case "run" -> KafkaCommands.run(KafkaCommands.runArgs(argv), out);
            case "produce" -> KafkaCommands.produce(new Args(cmd, argv, 1, KafkaCommands.with(List.of("bootstrap-servers", "file", "topic"), KafkaClientConfig.OPTIONS), List.of()), out);
            case "consume" -> KafkaCommands.consume(new Args(cmd, argv, 1, KafkaCommands.with(List.of("bootstrap-servers", "topic", "count"), KafkaClientConfig.OPTIONS), List.of("follow")), out);
            case "kafka-bench" -> KafkaBench.run(KafkaBench.args(argv), out);
            case "demo" -> {
                Args d = new Args(cmd, argv, 1, KafkaCommands.with(List.of("count", "model", "max-new-tokens"), KafkaClientConfig.OPTIONS), List.of("cluster"));
                yield d.flag("cluster") ? ClusterCommand.demo(d, out) : KafkaCommands.demo(d, out);
            }
            case "cluster" -> ClusterCommand.run(argv, out);
            case "batch" -> BatchCommand.run(new Args(cmd, argv, 1, BatchCommand.OPTIONS, List.of("quiet", "resume", "cluster")), out, System.err);
            case "eval" -> EvalCommand.run(new Args(cmd, argv, 1, EvalCommand.OPTIONS, List.of("quiet")), out, System.err);
            case "bench-pipeline" -> PipelineBench.run(new Args(cmd, argv, 1, PipelineBench.OPTIONS, List.of()), out);
            case "sql" -> SqlCli.run(argv, out);
            case "bench-sql" -> SqlBench.run(new Args(cmd, argv, 1, SqlBench.OPTIONS, List.of()), out);
            default -> throw new Args.UsageException("unknown command '" + cmd + "'\n" + USAGE);
        };
    }

    static final String USAGE = """
            usage: mistral-flink COMMAND [options]
              generate --model DIR (--prompt TEXT | --prompt-file F) [--max-new-tokens N] [--temperature T]
                       [--top-p P] [--top-k K] [--min-p M] [--seed S] [--ignore-eos] [--json]
              score    --model DIR (--text TEXT | --text-file F) --json
              bench    (--model DIR | --random-model mistral-7b|mixtral-8x7b [--layers N]) [--batch-sizes 1,8,32]
                       [--prompt-tokens 128] [--new-tokens 128] [--json]
              batch    --model DIR --input F.jsonl|F.avro --output G.jsonl [--stages P] [--layer-split 0,3,6] [--lanes L]
                       [--sequences-per-lane S] [--max-batch-tokens N] [--parallelism R] [--buffer-timeout-ms T] [--quiet]
                       [--resume: continue an interrupted run from its output]
              batch    --model DIR --input FILE|DIR --output DIR [--output-format jsonl|parquet] [--checkpoint-dir D]
                       [--checkpoint-interval-ms 10000] [--part-size 128mb] [--readers N] [--cluster] [pipeline options]
                       JSONL, Avro and Parquet files in, part files committed on checkpoints out; started again with
                       the same --output and --checkpoint-dir it resumes (docs/batch.md)
              eval     --model DIR --dataset F.jsonl[.xz] --output G.jsonl [--mode perplexity|continuation] [--max-tokens N]
                       [--prompt-tokens K] [--new-tokens M] [--ids a,b] [--limit D] [pipeline options as for batch] [--quiet]
              bench-pipeline --model DIR [--requests 64] [--prompt-tokens 128] [--new-tokens 64] [--stages 1,2] [--lanes 1,2,4]
                       [--repeat N] [--max-batch-tokens N] [--buffer-timeout-ms T]
            """ + "  " + SqlCli.USAGE + "\n" + KafkaCommands.USAGE.indent(2).stripTrailing() + "\n" + ClusterCommand.USAGE.indent(2).stripTrailing() + """

            common: [--device cpu|cpu:bf16|cuda|cuda:N|cuda:N,M,...|auto] [--threads N]""";

    /**
     * --device cpu (default) | cpu:bf16 (oneDNN bf16 matmuls, docs/engine.md) | cuda | cuda:N | auto (CUDA where it loads and a GPU answers, else the CPU; one line on
     * stderr says which). The pipeline's commands also take cuda:N,M,... and spread their stages over the GPUs.
     */
    static Backend backend(Args a) {
        String device = a.get("device", "cpu");
        int threads = a.integer("threads", Runtime.getRuntime().availableProcessors(), 1, Args.maxThreads());
        try {
            return io.mistralflink.model.compute.Backends.open(device, threads);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new Args.UsageException("--device " + device + ": " + e.getMessage());
        }
    }

    private static String textArg(Args a, String inline, String file) {
        if (a.has(inline) == a.has(file)) throw new Args.UsageException("give exactly one of --" + inline + " and --" + file);
        if (a.has(inline)) return a.required(inline);
        Path p = Path.of(a.required(file));
        try { return Files.readString(p); }
        catch (IOException e) { throw new Args.UsageException("--" + file + " " + p + ": cannot be read (" + e.getMessage() + ")"); }
    }

    static SamplingParams sampling(Args a, int defaultMaxTokens) {
        float t = a.decimal("temperature", 0f, 0f, Float.MAX_VALUE), p = a.decimal("top-p", 1f, Float.MIN_VALUE, 1f);
        float minP = a.decimal("min-p", 0f, 0f, 1f);
        int k = a.integer("top-k", 0, 0, Integer.MAX_VALUE), n = a.integer("max-new-tokens", defaultMaxTokens, 1, 1 << 20);
        try { return new SamplingParams(t, p, k, minP, a.longValue("seed", 0L), n, a.flag("ignore-eos"), List.of(), new int[0]); }
        catch (IllegalArgumentException e) { throw new Args.UsageException(e.getMessage()); }
    }

    private static int generate(Args a, PrintStream out) {
        long t0 = System.nanoTime();
        String prompt = textArg(a, "prompt", "prompt-file");
        SamplingParams params = sampling(a, 128);
        Path dir = Path.of(a.required("model"));
        try (Checkpoint ckpt = Checkpoint.open(dir); Tokenizer tok = Tokenizer.load(dir); Backend backend = backend(a)) {
            Shard model = Shard.whole(ckpt, backend);
            long loaded = System.nanoTime();
            ModelConfig c = ckpt.config();
            Sequence s = new Sequence("cli", tok.encode(prompt), params, c.eosId(), c.maxPositions());
            Generator.Timings t = new Generator(model, tok, c.window()).run(List.of(s));
            if (!a.flag("json")) {
                out.println(s.text());
                return 0;
            }
            ObjectNode o = JSON.createObjectNode();
            ints(o.putArray("prompt_ids"), s.prompt());
            ints(o.putArray("completion_ids"), s.generated());
            o.put("text", s.text());
            o.put("finish_reason", s.finishReason().wire());
            ObjectNode tm = o.putObject("timings");
            tm.put("load_ms", (loaded - t0) / 1e6);
            tm.put("prefill_ms", t.prefillNanos() / 1e6);
            tm.put("decode_ms", t.decodeNanos() / 1e6);
            out.println(o);
            return 0;
        }
    }

    private static int score(Args a, PrintStream out) {
        String text = textArg(a, "text", "text-file");
        Path dir = Path.of(a.required("model"));
        try (Checkpoint ckpt = Checkpoint.open(dir); Tokenizer tok = Tokenizer.load(dir); Backend backend = backend(a)) {
            int[] ids = tok.encode(text);
            if (ids.length > ckpt.config().maxPositions())
                throw new IllegalArgumentException("text of " + ids.length + " tokens exceeds the model's context of " + ckpt.config().maxPositions());
            Scorer.Scores s = new Scorer(Shard.whole(ckpt, backend)).score(ids);
            ObjectNode o = JSON.createObjectNode();
            ints(o.putArray("input_ids"), ids);
            ArrayNode nll = o.putArray("nll");
            for (double v : s.nll()) nll.add(v);
            ArrayNode last = o.putArray("last_logits");
            for (float v : s.lastLogits()) last.add(v);
            if (!a.flag("json")) out.printf("tokens %d, nll %.4f, perplexity %.3f%n", ids.length, s.nllSum(), s.perplexity());
            else out.println(o);
            return 0;
        }
    }

    private static int bench(Args a, PrintStream out) throws InterruptedException {
        if (a.has("model") == a.has("random-model")) throw new Args.UsageException("give exactly one of --model and --random-model");
        int[] batches = a.integers("batch-sizes", new int[]{1, 8, 32}, 1, 4096);
        int prompt = a.integer("prompt-tokens", 128, 1, 1 << 20), gen = a.integer("new-tokens", 128, 1, 1 << 20);
        if (prompt < 1 || gen < 1 || java.util.Arrays.stream(batches).anyMatch(b -> b < 1))
            throw new Args.UsageException("batch sizes, --prompt-tokens and --new-tokens must be positive");
        Checkpoint ckpt;
        Tokenizer tok = null;
        String label;
        if (a.has("model")) {
            Path dir = Path.of(a.required("model"));
            ckpt = Checkpoint.open(dir);
            label = dir.getFileName().toString();
        } else {
            int all = RandomCheckpoint.shape(a.required("random-model"), 0).layers();
            ModelConfig shape = RandomCheckpoint.shape(a.required("random-model"), a.integer("layers", all, 1, all));
            ckpt = RandomCheckpoint.build(shape, 42);
            label = a.required("random-model") + " (" + shape.layers() + " layers, random bf16)";
        }
        try (Backend backend = backend(a); ckpt) {
            Shard model = Shard.whole(ckpt, backend);
            List<Bench.Result> results = Bench.run(model, tok, batches, prompt, gen);
            long perToken = bytesPerToken(ckpt);
            // The host's memory bounds a CPU backend only; a GPU reads its own copy of the weights.
            double bandwidth = backend instanceof CpuBackend && perToken > (256L << 20)
                    ? MemoryBandwidth.measure(ckpt, weightNames(ckpt), a.integer("threads", Runtime.getRuntime().availableProcessors())) : 0;
            double fmaPeak = backend instanceof CpuBackend ? FmaPeak.measure(a.integer("threads", Runtime.getRuntime().availableProcessors())) : 0;
            ObjectNode o = JSON.createObjectNode();
            o.put("model", label);
            o.put("backend", backend.name());
            o.put("weights_gb", ckpt.bytes() / 1e9);
            if (bandwidth > 0) {
                o.put("memory_gb_s", Math.round(bandwidth / 1e8) / 10.0);
                o.put("batch1_decode_limit_tok_s", Math.round(bandwidth / perToken * 10) / 10.0);
            }
            if (fmaPeak > 0) o.put("fp32_fma_peak_gflop_s", Math.round(fmaPeak / 1e8) / 10.0);
            o.put("prompt_tokens", prompt);
            o.put("new_tokens", gen);
            ArrayNode rs = o.putArray("results");
            for (Bench.Result r : results) {
                ObjectNode n = rs.addObject();
                n.put("batch", r.batch());
                n.put("prefill_tok_s", Math.round(r.prefillTokPerS() * 10) / 10.0);
                n.put("decode_tok_s", Math.round(r.decodeTokPerS() * 10) / 10.0);
                n.put("prefill_gflop_s", Math.round(r.prefillFlopPerS() / 1e8) / 10.0);
                if (backend.memoryBandwidth() > 0 && gen > 1) n.put("decode_bound_tok_s", Math.round(decodeBound(backend, ckpt, r.batch(), prompt, gen) * 10) / 10.0);
            }
            if (a.flag("json")) out.println(o);
            else {
                out.printf("%s on %s, %d prompt + %d new tokens%n", label, backend.name(), prompt, gen);
                if (bandwidth > 0)
                    out.printf("weights stream from memory at %.1f GB/s: batch-1 decode limit %.1f tok/s%n", bandwidth / 1e9, bandwidth / perToken);
                if (fmaPeak > 0) out.printf("float32 FMA peak, measured on %s: %.1f GFLOP/s%n", backend.name(), fmaPeak / 1e9);
                for (Bench.Result r : results) {
                    out.printf("batch %4d  prefill %10.1f tok/s (%6.1f GFLOP/s)  decode %10.1f tok/s", r.batch(), r.prefillTokPerS(),
                            r.prefillFlopPerS() / 1e9, r.decodeTokPerS());
                    double bound = backend.memoryBandwidth() > 0 && gen > 1 ? decodeBound(backend, ckpt, r.batch(), prompt, gen) : 0;
                    out.println(bound > 0 ? String.format(" (bandwidth bound %.1f: %.0f%%)", bound, 100 * r.decodeTokPerS() / bound) : "");
                }
            }
            return 0;
        }
    }

    /** Decode tok/s at the device memory's peak bandwidth: the weights and the caches (bf16) within the window read once a step. */
    private static double decodeBound(Backend backend, Checkpoint ckpt, int batch, int prompt, int gen) {
        return batch * backend.memoryBandwidth() / Bench.decodeBytesPerStep(ckpt.config(), bytesPerToken(ckpt), batch, prompt, gen - 1, 2);
    }

    /** Weight bytes one batch-1 decode step reads: every layer (k experts of a mixture), the LM head, one embedding row. */
    static long bytesPerToken(Checkpoint c) {
        ModelConfig m = c.config();
        long ffn = 3L * m.dim() * m.hiddenDim() * (m.isMixtureOfExperts() ? m.expertsPerToken() : 1);
        long layer = 2L * m.qDim() * m.dim() + 2L * m.kvDim() * m.dim() + ffn + (long) m.experts() * m.dim();
        return (m.layers() * layer + (long) m.vocabSize() * m.dim()) * c.tensor("model.layers.0.self_attn.q_proj.weight").dtype().bytes;
    }

    private static List<String> weightNames(Checkpoint c) {
        List<String> names = new java.util.ArrayList<>();
        ModelConfig m = c.config();
        for (int l = 0; l < m.layers(); l++)
            for (String w : m.isMixtureOfExperts() ? List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
                    : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"))
                names.add("model.layers." + l + "." + w + ".weight");
        if (c.has("lm_head.weight")) names.add("lm_head.weight");
        return names;
    }

    static void ints(ArrayNode arr, int[] v) { for (int x : v) arr.add(x); }
}
