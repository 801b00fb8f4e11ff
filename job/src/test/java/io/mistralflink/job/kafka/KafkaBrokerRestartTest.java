package io.mistralflink.job.kafka;

import io.mistralflink.schemas.WireCodec;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The broker restarts while the exactly-once job runs: the job may fail and recover (fixed-delay
 * restarts), but every request is answered exactly once.
 */
@Timeout(120)
class KafkaBrokerRestartTest {

    @Test
    void everyRequestAnsweredExactlyOnceAcrossABrokerRestart() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().partitions(2).start()) {
            KafkaIo io = new KafkaIo(kafka.bootstrapServers(), KafkaTopics.defaults(), "restart-test");
            Configuration conf = new Configuration();
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 20);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(1));
            try (KafkaProducer<byte[], byte[]> producer = KafkaTestSupport.producer(kafka.bootstrapServers(), null)) {
                for (int i = 0; i < 10; i++) KafkaTestSupport.send(producer, "prompts", "r" + i, WireCodec.encode(KafkaPipelineTest.request("r" + i)));
            }
            JobClient job = KafkaPipelineTest.startJob(io, conf);
            try {
                assertEquals(10, KafkaTestSupport.readCommitted(kafka.bootstrapServers(), "completions", 10,
                        Duration.ofSeconds(60), Duration.ZERO).size());

                kafka.restartBroker();

                try (KafkaProducer<byte[], byte[]> producer = KafkaTestSupport.producer(kafka.bootstrapServers(), null)) {
                    for (int i = 10; i < 20; i++) KafkaTestSupport.send(producer, "prompts", "r" + i, WireCodec.encode(KafkaPipelineTest.request("r" + i)));
                }
                List<String> ids = KafkaTestSupport.readCommitted(kafka.bootstrapServers(), "completions", 20,
                                Duration.ofSeconds(60), Duration.ofSeconds(2)).stream()
                        .map(r -> WireCodec.decodeCompletion(r.value()).getRequestId()).sorted().toList();
                assertEquals(IntStream.range(0, 20).mapToObj(i -> "r" + i).sorted().toList(), ids);
                assertEquals(JobStatus.RUNNING, job.getJobStatus().get(10, TimeUnit.SECONDS));
            } finally {
                job.cancel().get(30, TimeUnit.SECONDS);
            }
        }
    }
}
