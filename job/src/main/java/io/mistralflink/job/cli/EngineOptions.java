package io.mistralflink.job.cli;

import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Backends;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Where the engine alone runs: {@code --device} and {@code --threads} of generate, score, bench and bench-pipeline. */
public final class EngineOptions {
    @Spec(Spec.Target.MIXEE) CommandSpec mixee;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu, cpu:bf16 (oneDNN bf16 matmuls, docs/engine.md), cuda, cuda:N or auto (CUDA where it loads and a GPU answers, "
                    + "else the CPU; a line on stderr says which)")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: one per core)")
    Integer threads;

    int threads() {
        return threads == null ? CliCommand.cores() : CliCommand.between(mixee, "--threads", threads, 1, CliCommand.maxThreads());
    }

    /** The backend asked for; a device that cannot be opened is a one-line error naming it. */
    Backend open() {
        int t = threads();
        try {
            return Backends.open(device, t);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new UsageException("--device " + device + ": " + e.getMessage());
        }
    }
}
