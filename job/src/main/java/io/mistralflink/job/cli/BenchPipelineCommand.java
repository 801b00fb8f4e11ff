package io.mistralflink.job.cli;

import io.mistralflink.job.bench.PipelineBench;
import io.mistralflink.model.compute.Backend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code bench-pipeline}: the same requests through the engine alone and through the pipeline for each (P, L) ({@link PipelineBench}). */
@Command(name = "bench-pipeline", description = "the same requests through the engine alone and through the pipeline for each (P, L)")
public final class BenchPipelineCommand extends CliCommand {
    @Mixin ModelOption model;

    @Option(names = "--requests", paramLabel = "N", defaultValue = "64", description = "requests, random prompts, greedy, EOS ignored")
    int requests;

    @Option(names = "--prompt-tokens", paramLabel = "N", defaultValue = "128", description = "prompt tokens of each request")
    int promptTokens;

    @Option(names = "--new-tokens", paramLabel = "N", defaultValue = "64", description = "tokens generated per request")
    int newTokens;

    @Option(names = "--stages", paramLabel = "P", split = ",", defaultValue = "1,2", description = "stage counts, each measured")
    int[] stages;

    @Option(names = "--lanes", paramLabel = "L", split = ",", defaultValue = "1,2,4", description = "lane counts, each measured")
    int[] lanes;

    @Option(names = "--repeat", paramLabel = "N", defaultValue = "1", description = "runs of each (P, L); the best counts")
    int repeat;

    @Option(names = "--max-batch-tokens", paramLabel = "T", defaultValue = "2048", description = "tokens of one step")
    int maxBatchTokens;

    @Option(names = "--buffer-timeout-ms", paramLabel = "MS", defaultValue = "0", description = "Flink's network buffer timeout")
    int bufferTimeoutMs;

    @Mixin EngineOptions engine;

    @Override public Integer call() throws Exception {
        var settings = new PipelineBench.Settings(model.dir, requests, promptTokens, newTokens, maxBatchTokens, repeat, stages, lanes, bufferTimeoutMs,
                engine.device);
        try (Backend b = engine.open()) {
            return PipelineBench.run(settings, b, out);
        }
    }
}
