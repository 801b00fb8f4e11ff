package io.mistralflink.job.cli;

import io.mistralflink.job.kafka.KafkaClientConfig;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Kafka client properties, as Kafka's own tools take them ({@link KafkaClientConfig}): run, produce, consume, demo. */
public final class KafkaClientOptions {
    @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (security.protocol, SASL, TLS, client.id, ...)")
    Path config;

    @Option(names = "--kafka-property", paramLabel = "K=V", description = "a client property, repeatable; wins over --kafka-config")
    List<String> properties = new ArrayList<>();

    Map<String, String> properties() { return KafkaClientConfig.parse(config, properties); }
}
