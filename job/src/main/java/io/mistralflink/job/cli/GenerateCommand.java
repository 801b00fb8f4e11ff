package io.mistralflink.job.cli;

import io.mistralflink.job.common.Json;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;

/** {@code generate}: the engine alone, no Flink: one completion. */
@Command(name = "generate", description = "the engine alone, no Flink: one completion (--json: ids, text, finish reason, load/prefill/decode times)")
public final class GenerateCommand extends CliCommand {
    @Mixin ModelOption model;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "the prompt")
    String prompt;

    @Option(names = "--prompt-file", paramLabel = "F", description = "the prompt, from a file")
    Path promptFile;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "128", description = "tokens to generate at most")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", converter = Converters.NonNegative.class, description = "0: greedy")
    float temperature;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1", converter = Converters.Probability.class, description = "nucleus sampling: the smallest set of tokens whose probability reaches P")
    float topP;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0", description = "sample among the K likeliest tokens (0: all)")
    int topK;

    @Option(names = "--min-p", paramLabel = "M", defaultValue = "0", converter = Converters.UnitInterval.class,
            description = "drop the tokens less likely than M times the likeliest (0: off)")
    float minP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "the sampler's seed")
    long seed;

    @Option(names = "--ignore-eos", description = "generate all --max-new-tokens, past an end of sequence")
    boolean ignoreEos;

    @Option(names = "--json", description = "one JSON object: ids, text, finish reason, timings")
    boolean json;

    @Mixin EngineOptions engine;

    record Timings(double loadMs, double prefillMs, double decodeMs) {}

    record Result(int[] promptIds, int[] completionIds, String text, String finishReason, Timings timings) {}

    SamplingParams sampling() {
        between("--top-k", topK, 0, Integer.MAX_VALUE);
        between("--max-new-tokens", maxNewTokens, 1, 1 << 20);
        try { return new SamplingParams(temperature, topP, topK, minP, seed, maxNewTokens, ignoreEos, List.of(), new int[0]); }
        catch (IllegalArgumentException e) { throw usage(e.getMessage()); }
    }

    @Override public Integer call() {
        long t0 = System.nanoTime();
        String text = new TextSource("--prompt", prompt, "--prompt-file", promptFile).read(spec);
        SamplingParams params = sampling();
        try (Checkpoint ckpt = Checkpoint.open(model.dir); Tokenizer tok = Tokenizer.load(model.dir); Backend backend = engine.open()) {
            Shard shard = Shard.whole(ckpt, backend);
            long loaded = System.nanoTime();
            ModelConfig c = ckpt.config();
            Sequence s = new Sequence("cli", tok.encode(text), params, c.eosId(), c.maxPositions());
            Generator.Timings t = new Generator(shard, tok, c.window()).run(List.of(s));
            out.println(!json ? s.text() : Json.line(new Result(s.prompt(), s.generated(), s.text(), s.finishReason().wire(),
                    new Timings((loaded - t0) / 1e6, t.prefillNanos() / 1e6, t.decodeNanos() / 1e6))));
            return 0;
        }
    }
}
