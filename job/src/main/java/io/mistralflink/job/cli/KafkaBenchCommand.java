package io.mistralflink.job.cli;

import io.mistralflink.job.bench.KafkaBench;
import io.mistralflink.operators.pipeline.PipelineConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code kafka-bench}: tokens/s Kafka to Kafka vs the same requests from a bounded input ({@link KafkaBench}). */
@Command(name = "kafka-bench", description = "tokens/s Kafka to Kafka (embedded broker, exactly-once) vs the same requests from a bounded input, "
        + "in one process, the order alternating per round")
public final class KafkaBenchCommand extends CliCommand {
    @Option(names = "--count", paramLabel = "N", defaultValue = "256", description = "Brown prompts")
    int count;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "32", description = "tokens generated per prompt, EOS ignored")
    int maxNewTokens;

    @Option(names = "--rounds", paramLabel = "N", defaultValue = "3", description = "rounds of both; the first warms the JIT")
    int rounds;

    @Option(names = "--checkpoint-interval-ms", paramLabel = "MS", defaultValue = "1000", description = "the Kafka job's checkpoints (its commits)")
    long checkpointIntervalMs;

    @Option(names = "--bounded-checkpoints", description = "the bounded run checkpoints at the same interval (to tell the cost of checkpoints from Kafka's)")
    boolean boundedCheckpoints;

    @Option(names = "--json", description = "one JSON object")
    boolean json;

    @Mixin PipelineOptions pipeline;

    @Override public Integer call() {
        PipelineConfig config = pipeline.config();
        if (count < 1 || maxNewTokens < 1 || rounds < 1) throw usage("--count, --max-new-tokens and --rounds must be >= 1");
        return KafkaBench.run(config, new KafkaBench.Settings(count, maxNewTokens, rounds, checkpointIntervalMs, boundedCheckpoints, json), out);
    }
}
