package io.mistralflink.job.cli;

import io.mistralflink.job.kafka.Consume;
import io.mistralflink.job.kafka.KafkaTopics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code consume}: committed records of a topic as JSON lines ({@link Consume}). */
@Command(name = "consume", description = "committed records of a topic (completions, dead letters, prompts) as JSON lines")
public final class ConsumeCommand extends CliCommand {
    @Option(names = "--bootstrap-servers", paramLabel = "H:P", required = true, description = "the Kafka cluster")
    String bootstrapServers;

    @Option(names = "--topic", paramLabel = "T", defaultValue = KafkaTopics.DEFAULT_COMPLETIONS, description = "which")
    String topic;

    @Option(names = "--follow", description = "keep waiting for new records (else stop at the end of the topic as it was at start)")
    boolean follow;

    @Option(names = "--count", paramLabel = "N", defaultValue = "0", description = "stop after N records (0: no limit)")
    int count;

    @Mixin KafkaClientOptions kafkaClient;

    @Override public Integer call() {
        if (count < 0) throw usage("--count must be >= 0");
        Consume.run(bootstrapServers, topic, follow, count, kafkaClient.properties(), out, err);
        return 0;
    }
}
