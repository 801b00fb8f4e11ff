package io.mistralflink.job.cli;

import io.mistralflink.job.bench.SqlBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code bench-sql}: the same prompts through the engine alone, ML_PREDICT and the DataStream pipeline ({@link SqlBench}). */
@Command(name = "bench-sql", description = "the same prompts through the engine alone at batch B, through ML_PREDICT with B rows in flight "
        + "and through the pipeline of batch, interleaved per repeat; tokens/s and tokens per CPU second")
public final class BenchSqlCommand extends CliCommand {
    @Mixin ModelOption model;

    @Option(names = "--requests", paramLabel = "N", defaultValue = "256", description = "Brown paragraphs as prompts")
    int requests;

    @Option(names = "--new-tokens", paramLabel = "N", defaultValue = "64", description = "tokens generated per prompt, EOS ignored")
    int newTokens;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "32", description = "sequences (rows) in flight")
    int batch;

    @Option(names = "--max-batch-tokens", paramLabel = "T", defaultValue = "512", description = "tokens of one step")
    int maxBatchTokens;

    @Option(names = "--repeat", paramLabel = "N", defaultValue = "2", description = "rounds of the three")
    int repeat;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: one per core)")
    Integer threads;

    @Override public Integer call() throws Exception {
        return SqlBench.run(new SqlBench.Settings(model.dir, requests, newTokens, batch, maxBatchTokens, repeat, threads == null ? cores() : threads), out);
    }
}
