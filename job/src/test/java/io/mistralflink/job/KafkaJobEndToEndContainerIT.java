package io.mistralflink.job;

import org.junit.jupiter.api.Tag;

/** {@link KafkaJobEndToEndTest} against the broker container instead of the embedded broker (profile {@code containers}). */
@Tag("containers")
class KafkaJobEndToEndContainerIT extends KafkaJobEndToEndTest {
    @Override KafkaJobSupport.Broker broker(int partitions) { return new KafkaBrokerContainer(partitions); }
}
