package io.mistralflink.job.cli;

import io.mistralflink.job.common.Json;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code score}: per-position negative log-likelihood of a text, and the last position's logits. */
@Command(name = "score", description = "per-position negative log-likelihood and the last position's logits")
public final class ScoreCommand extends CliCommand {
    @Mixin ModelOption model;

    @Option(names = "--text", paramLabel = "TEXT", description = "the text to score")
    String text;

    @Option(names = "--text-file", paramLabel = "F", description = "the text to score, from a file")
    Path textFile;

    @Option(names = "--json", description = "ids, per-position NLL and the last logits as one JSON object (else a summary line)")
    boolean json;

    @Mixin EngineOptions engine;

    record Result(int[] inputIds, double[] nll, float[] lastLogits) {}

    @Override public Integer call() {
        String input = new TextSource("--text", text, "--text-file", textFile).read(spec);
        try (Checkpoint ckpt = Checkpoint.open(model.dir); Tokenizer tok = Tokenizer.load(model.dir); Backend backend = engine.open()) {
            int[] ids = tok.encode(input);
            if (ids.length > ckpt.config().maxPositions())
                throw new IllegalArgumentException("text of " + ids.length + " tokens exceeds the model's context of " + ckpt.config().maxPositions());
            Scorer.Scores s = new Scorer(Shard.whole(ckpt, backend)).score(ids);
            if (!json) out.printf("tokens %d, nll %.4f, perplexity %.3f%n", ids.length, s.nllSum(), s.perplexity());
            else out.println(Json.line(new Result(ids, s.nll(), s.lastLogits())));
            return 0;
        }
    }
}
