package io.mistralflink.job;

import org.junit.jupiter.api.Tag;

/** {@link KafkaJobRecoveryTest} against the broker container instead of the embedded broker (profile {@code containers}). */
@Tag("containers")
class KafkaJobRecoveryContainerIT extends KafkaJobRecoveryTest {
    @Override KafkaJobSupport.Broker broker(int partitions) { return new KafkaBrokerContainer(partitions); }
}
