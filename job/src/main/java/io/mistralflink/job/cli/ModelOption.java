package io.mistralflink.job.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --model DIR}, required: the checkpoint a command runs. */
public final class ModelOption {
    @Option(names = "--model", paramLabel = "DIR", required = true, description = "a Hugging Face checkpoint directory")
    Path dir;
}
