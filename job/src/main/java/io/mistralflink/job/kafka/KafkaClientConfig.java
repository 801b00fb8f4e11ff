package io.mistralflink.job.kafka;

import io.mistralflink.job.common.UsageException;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Kafka client properties from the command line, as Kafka's own tools take them: {@code
 * --kafka-config FILE} (Java properties: {@code security.protocol}, SASL, TLS, {@code client.id},
 * ...) and {@code --kafka-property K=V}, repeatable, which wins over the file. They go to every
 * client a command makes (the job's source and sinks, produce, consume).
 */
public final class KafkaClientConfig {
    private KafkaClientConfig() {}

    /** @param file a properties file or null; @param properties {@code K=V} each */
    public static Map<String, String> parse(Path file, List<String> properties) {
        Map<String, String> out = new LinkedHashMap<>();
        if (file != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file)) {
                p.load(r);
            } catch (IOException e) {
                throw new UsageException("--kafka-config " + file + ": cannot be read (" + e.getMessage() + ")");
            }
            p.stringPropertyNames().stream().sorted().forEach(k -> out.put(k, p.getProperty(k)));
        }
        for (String kv : properties) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new UsageException("--kafka-property must be KEY=VALUE, got '" + kv + "'");
            out.put(kv.substring(0, eq).strip(), kv.substring(eq + 1));
        }
        return out;
    }
}
