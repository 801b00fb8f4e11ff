package io.mistralflink.job.cli;

import io.mistralflink.job.kafka.KafkaTopics;
import io.mistralflink.job.kafka.Produce;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code produce}: the good lines of a JSONL file as GenerationRequest records to the prompts topic ({@link Produce}). */
@Command(name = "produce", description = "request lines of a JSONL file as GenerationRequest records to a topic; bad lines reported and skipped")
public final class ProduceCommand extends CliCommand {
    @Option(names = "--bootstrap-servers", paramLabel = "H:P", required = true, description = "the Kafka cluster")
    String bootstrapServers;

    @Option(names = "--file", paramLabel = "F.jsonl", required = true, description = "one request per line (the batch input's lines)")
    Path file;

    @Option(names = "--topic", paramLabel = "T", defaultValue = KafkaTopics.DEFAULT_PROMPTS, description = "where to")
    String topic;

    @Mixin KafkaClientOptions kafkaClient;

    @Override public Integer call() {
        int n = Produce.run(bootstrapServers, topic, file, kafkaClient.properties(), err);
        out.println("produced " + n + " request(s) to " + topic);
        return 0;
    }
}
