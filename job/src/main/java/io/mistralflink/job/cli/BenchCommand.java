package io.mistralflink.job.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.mistralflink.job.bench.BatchFootprint;
import io.mistralflink.job.common.Json;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.bench.Bench;
import io.mistralflink.model.bench.FmaPeak;
import io.mistralflink.model.bench.MemoryBandwidth;
import io.mistralflink.model.bench.RandomCheckpoint;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.compute.cuda.CudaBench;
import io.mistralflink.model.compute.cuda.GemmSweep;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.weights.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code bench}: the engine's prefill and decode tokens/s per batch size, after a JIT warm-up. */
@Command(name = "bench", description = "engine prefill and decode tokens/s per batch size, after a JIT warm-up; prefill also in GFLOP/s "
        + "beside the measured float32 FMA peak (CPU). Its subcommands: the other measurements users run",
        subcommands = {BenchCommand.CudaBenchCommand.class, BenchCommand.GemmSweepCommand.class, BenchCommand.BatchFootprintCommand.class})
public final class BenchCommand extends CliCommand {
    @Option(names = "--model", paramLabel = "DIR", description = "a Hugging Face checkpoint directory")
    Path model;

    @Option(names = "--random-model", paramLabel = "SHAPE", description = "random bf16 weights of a known shape: mistral-7b, mixtral-8x7b, tiny-mistral, ...")
    String randomModel;

    @Option(names = "--layers", paramLabel = "N", description = "with --random-model: only the first N layers (default: all)")
    Integer layers;

    @Option(names = "--batch-sizes", paramLabel = "B", split = ",", defaultValue = "1,8,32", description = "batch sizes, each measured")
    int[] batchSizes;

    @Option(names = "--prompt-tokens", paramLabel = "N", defaultValue = "128", description = "prompt tokens of each sequence")
    int promptTokens;

    @Option(names = "--new-tokens", paramLabel = "N", defaultValue = "128", description = "tokens decoded per sequence")
    int newTokens;

    @Option(names = "--json", description = "one JSON object")
    boolean json;

    @Mixin EngineOptions engine;

    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Report(String model, String backend, double weightsGb, Double memoryGbS, Double batch1DecodeLimitTokS, Double fp32FmaPeakGflopS,
                  int promptTokens, int newTokens, List<Row> results) {}

    /** @param decodeBoundTokS decode tok/s at the device memory's peak bandwidth (where the backend knows it) */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Row(int batch, double prefillTokS, double decodeTokS, double prefillGflopS, Double decodeBoundTokS) {}

    @Override public Integer call() throws InterruptedException {
        if ((model == null) == (randomModel == null)) throw usage("give exactly one of --model and --random-model");
        int[] batches = each("--batch-sizes", batchSizes, 1, 4096);
        int prompt = between("--prompt-tokens", promptTokens, 1, 1 << 20), gen = between("--new-tokens", newTokens, 1, 1 << 20);
        Checkpoint ckpt;
        String label;
        if (model != null) {
            ckpt = Checkpoint.open(model);
            label = model.getFileName().toString();
        } else {
            int all = RandomCheckpoint.shape(randomModel, 0).layers();
            ModelConfig shape = RandomCheckpoint.shape(randomModel, layers == null ? all : between("--layers", layers, 1, all));
            ckpt = RandomCheckpoint.build(shape, 42);
            label = randomModel + " (" + shape.layers() + " layers, random bf16)";
        }
        try (Backend backend = engine.open(); ckpt) {
            List<Bench.Result> results = Bench.run(Shard.whole(ckpt, backend), null, batches, prompt, gen);
            long perToken = bytesPerToken(ckpt);
            // The host's memory bounds a CPU backend only; a GPU reads its own copy of the weights.
            double bandwidth = backend instanceof CpuBackend && perToken > (256L << 20)
                    ? MemoryBandwidth.measure(ckpt, weightNames(ckpt), engine.threads()) : 0;
            double fmaPeak = backend instanceof CpuBackend ? FmaPeak.measure(engine.threads()) : 0;
            if (json) {
                List<Row> rows = new ArrayList<>();
                for (Bench.Result r : results) {
                    double bound = decodeBound(backend, ckpt, r.batch(), prompt, gen);
                    rows.add(new Row(r.batch(), tenths(r.prefillTokPerS()), tenths(r.decodeTokPerS()), tenths(r.prefillFlopPerS() / 1e9),
                            bound > 0 ? tenths(bound) : null));
                }
                out.println(Json.line(new Report(label, backend.name(), ckpt.bytes() / 1e9, bandwidth > 0 ? tenths(bandwidth / 1e9) : null,
                        bandwidth > 0 ? tenths(bandwidth / perToken) : null, fmaPeak > 0 ? tenths(fmaPeak / 1e9) : null, prompt, gen, rows)));
                return 0;
            }
            out.printf("%s on %s, %d prompt + %d new tokens%n", label, backend.name(), prompt, gen);
            if (bandwidth > 0)
                out.printf("weights stream from memory at %.1f GB/s: batch-1 decode limit %.1f tok/s%n", bandwidth / 1e9, bandwidth / perToken);
            if (fmaPeak > 0) out.printf("float32 FMA peak, measured on %s: %.1f GFLOP/s%n", backend.name(), fmaPeak / 1e9);
            for (Bench.Result r : results) {
                out.printf("batch %4d  prefill %10.1f tok/s (%6.1f GFLOP/s)  decode %10.1f tok/s", r.batch(), r.prefillTokPerS(),
                        r.prefillFlopPerS() / 1e9, r.decodeTokPerS());
                double bound = decodeBound(backend, ckpt, r.batch(), prompt, gen);
                out.println(bound > 0 ? String.format(" (bandwidth bound %.1f: %.0f%%)", bound, 100 * r.decodeTokPerS() / bound) : "");
            }
            return 0;
        }
    }

    private static double tenths(double v) { return Math.round(v * 10) / 10.0; }

    /**
     * Decode tok/s at the device memory's peak bandwidth: the weights and the caches (bf16) within the window read once a step;
     * 0 where the backend does not know its bandwidth, or there is no decode step to time.
     */
    private static double decodeBound(Backend backend, Checkpoint ckpt, int batch, int prompt, int gen) {
        if (backend.memoryBandwidth() <= 0 || gen <= 1) return 0;
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
        List<String> names = new ArrayList<>();
        ModelConfig m = c.config();
        for (int l = 0; l < m.layers(); l++)
            for (String w : m.isMixtureOfExperts() ? List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
                    : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"))
                names.add("model.layers." + l + "." + w + ".weight");
        if (c.has("lm_head.weight")) names.add("lm_head.weight");
        return names;
    }

    /** {@code bench cuda}: the CUDA backend on random models of real shapes, weights made on the device ({@link CudaBench}). */
    @Command(name = "cuda", description = "on a GPU: prefill and decode tokens/s of random Mistral-7B / Mixtral-8x7B shapes, weights made on "
            + "the device (bench/cuda-h200.md)")
    static final class CudaBenchCommand extends CliCommand {
        @Parameters(paramLabel = "ARGS", description = "CudaBench's options: --model mistral-7b|mixtral-8x7b, --batches B,..., --prompt N, "
                + "--new N, --prefill N,..., --prefill-batches B,..., --long-prompts N,..., --long-batches B,..., --long-new N, --warmup N, "
                + "--hbm-gbs G, --label TEXT")
        List<String> args = new ArrayList<>();

        @Override public Integer call() {
            CudaBench.main(args.toArray(String[]::new));
            return 0;
        }
    }

    /** {@code bench gemm-sweep}: every cuBLASLt algorithm for the decode GEMM shapes, on a GPU ({@link GemmSweep}). */
    @Command(name = "gemm-sweep", description = "on a GPU: every cuBLASLt algorithm the heuristic offers for the 7B shape's decode GEMMs, "
            + "beside cublasGemmEx's default and split-K (docs/gpu.md)")
    static final class GemmSweepCommand extends CliCommand {
        @Option(names = "--m", paramLabel = "M", defaultValue = "16,64,256", description = "rows (sequences of a step)")
        String rows;

        @Option(names = "--shapes", paramLabel = "S", defaultValue = "qkv,o,gate,gateup,down,head", description = "which weights")
        String shapes;

        @Option(names = "--reps", paramLabel = "N", defaultValue = "50", description = "timed launches of each")
        int reps;

        @Override public Integer call() {
            GemmSweep.main(new String[]{"--m", rows, "--shapes", shapes, "--reps", Integer.toString(reps)});
            return 0;
        }
    }

    /** {@code bench batch-footprint}: a batch's cost to the client before the first answer ({@link BatchFootprint}). */
    @Command(name = "batch-footprint", description = "the client's peak heap and the serialized job graph of a batch, "
            + "requests read by the client (from-data) or by the file source (files) (docs/batch.md)")
    static final class BatchFootprintCommand extends CliCommand {
        @Option(names = "--mode", paramLabel = "from-data|files", required = true, description = "which batch mode")
        String mode;

        @Mixin ModelOption model;

        @Option(names = "--input", paramLabel = "F.jsonl", required = true, description = "the requests")
        Path input;

        @Option(names = "--write", paramLabel = "N", defaultValue = "0", description = "first write --input with N short requests")
        int write;

        @Override public Integer call() throws Exception {
            if (!mode.equals("from-data") && !mode.equals("files")) throw usage("--mode " + mode + ": from-data or files");
            BatchFootprint.run(mode.equals("from-data"), model.dir, input, between("--write", write, 0, Integer.MAX_VALUE), out);
            return 0;
        }
    }
}
