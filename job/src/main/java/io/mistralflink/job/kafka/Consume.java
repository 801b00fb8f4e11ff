package io.mistralflink.job.kafka;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import io.mistralflink.schemas.WireFormatException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * {@code mistral-flink consume}: prints the records of a topic as JSON lines, reading committed
 * records only (read_committed), from the beginning of every partition, without a consumer group.
 *
 * <p>Completions print as {@code {"request_id","text","completion_ids","prompt_tokens",
 * "completion_tokens","finish_reason","timings":{"queued_ms","prefill_ms","decode_ms"},"metadata","model"}}.
 * The record type is recognised by its schema fingerprint, so the same command also prints the
 * dead-letters topic ({@code request_id, reason, topic, partition, offset, original_base64}, and {@code
 * original_length, original_sha256} when the original was cut) and the
 * prompts topic (the request's fields). Undecodable records are reported on {@code err} and skipped.
 */
public final class Consume {

    private static final ObjectMapper JSON = new ObjectMapper();

    private Consume() {}

    /**
     * @param follow keep waiting for new records; otherwise stop at the end of the topic as it was
     *               when we started (the last stable offsets)
     * @param count  stop after this many records; {@code <= 0}: no limit
     * @return the number of records printed
     */
    public static int run(String bootstrapServers, String topic, boolean follow, int count, PrintStream out) {
        return run(bootstrapServers, topic, follow, count, out, System.err);
    }

    public static int run(String bootstrapServers, String topic, boolean follow, int count, PrintStream out, PrintStream err) {
        return run(bootstrapServers, topic, follow, count, Map.of(), out, err);
    }

    /** As above, with the client properties {@code client} (security, client.id, ...) on top of ours. */
    public static int run(String bootstrapServers, String topic, boolean follow, int count, Map<String, String> client, PrintStream out, PrintStream err) {
        Properties p = KafkaIo.committedBytesConsumer(bootstrapServers);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "mistral-flink-consume");
        client.forEach(p::setProperty);
        int printed = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
            if (infos == null || infos.isEmpty()) throw new IllegalArgumentException("topic '" + topic + "' does not exist at " + bootstrapServers);
            List<TopicPartition> parts = infos.stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end = follow ? Map.of() : consumer.endOffsets(parts, Duration.ofSeconds(30));
            while (true) {
                if (!follow && reachedEnd(consumer, end)) break;
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (!follow && r.offset() >= end.getOrDefault(new TopicPartition(r.topic(), r.partition()), Long.MAX_VALUE)) continue;
                    String line = toJsonLine(r.value(), err, r);
                    if (line == null) continue;
                    out.println(line);
                    printed++;
                    if (count > 0 && printed >= count) {
                        out.flush();
                        return printed;
                    }
                }
                out.flush();
                if (Thread.currentThread().isInterrupted()) break;
            }
        }
        return printed;
    }

    private static boolean reachedEnd(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
        for (var e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) return false;
        }
        return true;
    }

    private static String toJsonLine(byte[] value, PrintStream err, ConsumerRecord<?, ?> r) {
        try {
            return toJson(value);
        } catch (WireFormatException e) {
            err.println(r.topic() + "-" + r.partition() + "@" + r.offset() + ": skipped: " + e.getMessage());
            return null;
        }
    }

    /** Prints committed records of {@code topics} as JSON lines as they arrive, until {@code n} or the timeout; returns how many. */
    public static int printCommitted(String bootstrapServers, List<String> topics, int n, Duration timeout, PrintStream out) {
        int seen = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(KafkaIo.committedBytesConsumer(bootstrapServers))) {
            List<TopicPartition> parts = new ArrayList<>();
            for (String t : topics) c.partitionsFor(t).forEach(i -> parts.add(new TopicPartition(t, i.partition())));
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (seen < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                    out.println(toJson(r.value()));
                    seen++;
                }
                out.flush();
            }
        }
        return seen;
    }

    /** The JSON line for a record value of any of our record types. */
    public static String toJson(byte[] value) {
        try {
            return JSON.writeValueAsString(toJsonNode(decodeAny(value)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object decodeAny(byte[] value) {
        try {
            return WireCodec.decodeCompletion(value);
        } catch (WireFormatException e) {
            if (e.kind() != WireFormatException.Kind.WRONG_RECORD_TYPE) throw e;
        }
        try {
            return WireCodec.decodeDeadLetter(value);
        } catch (WireFormatException e) {
            if (e.kind() != WireFormatException.Kind.WRONG_RECORD_TYPE) throw e;
        }
        return WireCodec.decodeRequest(value);
    }

    static ObjectNode toJsonNode(Object record) {
        ObjectNode o = JSON.createObjectNode();
        switch (record) {
            case Completion c -> {
                o.put("request_id", c.getRequestId());
                o.put("text", c.getText());
                ArrayNode ids = o.putArray("completion_ids");
                c.getCompletionIds().forEach(ids::add);
                o.put("prompt_tokens", c.getPromptTokens());
                o.put("completion_tokens", c.getCompletionTokens());
                o.put("finish_reason", c.getFinishReason());
                ObjectNode t = o.putObject("timings");
                t.put("queued_ms", c.getTimings().getQueuedMs());
                t.put("prefill_ms", c.getTimings().getPrefillMs());
                t.put("decode_ms", c.getTimings().getDecodeMs());
                putMap(o, c.getMetadata());
                o.put("model", c.getModel());
            }
            case DeadLetter d -> {
                o.put("request_id", d.getRequestId());
                o.put("reason", d.getReason());
                o.put("topic", d.getTopic());
                o.put("partition", d.getPartition());
                o.put("offset", d.getOffset());
                ByteBuffer b = d.getOriginal().duplicate();
                byte[] bytes = new byte[b.remaining()];
                b.get(bytes);
                o.put("original_base64", Base64.getEncoder().encodeToString(bytes));
                if (d.getOriginalLength() != null) { // the original was cut to its first bytes
                    o.put("original_length", d.getOriginalLength());
                    o.put("original_sha256", d.getOriginalSha256());
                }
            }
            case GenerationRequest r -> {
                o.put("request_id", r.getRequestId());
                if (r.getPrompt() != null) o.put("prompt", r.getPrompt());
                if (r.getMessages() != null) {
                    ArrayNode ms = o.putArray("messages");
                    for (ChatMessage m : r.getMessages()) ms.addObject().put("role", m.getRole()).put("content", m.getContent());
                }
                o.put("max_new_tokens", r.getMaxNewTokens());
                if (r.getTemperature() != null) o.put("temperature", r.getTemperature());
                if (r.getTopP() != null) o.put("top_p", r.getTopP());
                if (r.getTopK() != null) o.put("top_k", r.getTopK());
                if (r.getMinP() != null) o.put("min_p", r.getMinP());
                if (r.getSeed() != null) o.put("seed", r.getSeed());
                ArrayNode stop = o.putArray("stop");
                r.getStop().forEach(stop::add);
                ArrayNode stopIds = o.putArray("stop_token_ids");
                r.getStopTokenIds().forEach(stopIds::add);
                o.put("ignore_eos", r.getIgnoreEos());
                putMap(o, r.getMetadata());
            }
            default -> throw new IllegalArgumentException("not a wire record: " + record.getClass());
        }
        return o;
    }

    private static void putMap(ObjectNode o, Map<String, String> metadata) {
        ObjectNode m = o.putObject("metadata");
        if (metadata != null) metadata.forEach(m::put);
    }
}
