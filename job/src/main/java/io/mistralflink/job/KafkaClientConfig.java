package io.mistralflink.job;

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
final class KafkaClientConfig {
    static final List<String> OPTIONS = List.of("kafka-config", "kafka-property");

    private KafkaClientConfig() {}

    static Map<String, String> parse(Args a) {
        Map<String, String> out = new LinkedHashMap<>();
        if (a.has("kafka-config")) {
            Path file = Path.of(a.get("kafka-config", null));
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file)) {
                p.load(r);
            } catch (IOException e) {
                throw new Args.UsageException("--kafka-config " + file + ": cannot be read (" + e.getMessage() + ")");
            }
            p.stringPropertyNames().stream().sorted().forEach(k -> out.put(k, p.getProperty(k)));
        }
        for (String kv : a.all("kafka-property")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new Args.UsageException("--kafka-property must be KEY=VALUE, got '" + kv + "'");
            out.put(kv.substring(0, eq).strip(), kv.substring(eq + 1));
        }
        return out;
    }

    /** {@code base} with the command line's properties on top. */
    static Properties apply(Properties base, Map<String, String> extra) {
        extra.forEach(base::setProperty);
        return base;
    }
}
