package io.mistralflink.job.kafka;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code mistral-flink produce}: JSONL prompts -> Avro {@link GenerationRequest} records on the
 * prompts topic, keyed by request id.
 *
 * <p>One JSON object per line: {@code request_id} (string) and {@code max_new_tokens} (int) are
 * required; {@code prompt}, {@code messages} [{role, content}], {@code temperature}, {@code top_p},
 * {@code top_k}, {@code min_p}, {@code seed}, {@code stop} [str], {@code stop_token_ids} [int], {@code ignore_eos},
 * {@code metadata} {str: scalar} are optional. Lines that are not such objects (bad JSON, wrong
 * types, unknown fields) are reported on {@code err} with their line number and skipped; blank lines
 * are ignored. Semantic checks (empty prompt, limits) are the job's: such requests are produced and
 * end up on the dead-letter topic.
 */
public final class Produce {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> FIELDS = Set.of("request_id", "prompt", "messages", "max_new_tokens", "temperature",
            "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "metadata");

    private Produce() {}

    public static int run(String bootstrapServers, String topic, Path file, PrintStream err) {
        return run(bootstrapServers, topic, file, Map.of(), err);
    }

    /**
     * Produces every good line of {@code file} to {@code topic}, in order, with the client properties
     * {@code client} on top of ours; returns how many records were written (and acknowledged). Stops
     * at the first send that fails: nothing after that line is sent, and the exception names it.
     */
    public static int run(String bootstrapServers, String topic, Path file, Map<String, String> client, PrintStream err) {
        Properties p = KafkaIo.bytesProducer(bootstrapServers);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "mistral-flink-produce");
        client.forEach(p::setProperty);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        AtomicReference<Exception> failed = new AtomicReference<>();
        int skipped = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
             BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null && failed.get() == null) {
                lineNo++;
                if (line.isBlank()) continue;
                GenerationRequest r;
                try {
                    r = parse(line);
                } catch (IllegalArgumentException e) {
                    err.println(file + ":" + lineNo + ": skipped: " + e.getMessage());
                    skipped++;
                    continue;
                }
                // a record the client refuses at once (too large, say) fails its future before send returns
                sent.add(producer.send(new ProducerRecord<>(topic, r.getRequestId().getBytes(StandardCharsets.UTF_8), WireCodec.encode(r)),
                        (md, e) -> { if (e != null) failed.compareAndSet(null, e); }));
                lines.add(lineNo);
            }
            producer.flush();
            for (int i = 0; i < sent.size(); i++) {
                try {
                    sent.get(i).get();
                } catch (ExecutionException e) {
                    throw new IllegalStateException(file + ":" + lines.get(i) + ": sending to " + topic + " at " + bootstrapServers + " failed: "
                            + e.getCause() + " (" + i + " record(s) before it were sent; nothing after line " + lines.get(lines.size() - 1) + ")", e.getCause());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while producing", e);
        }
        if (skipped > 0) err.println(file + ": " + skipped + " line(s) skipped, " + sent.size() + " produced");
        return sent.size();
    }

    /**
     * Writes {@code requests} to {@code topic} (key = request id), flushed, every send checked: the demo's,
     * the benchmarks' and the tests' prompts. One batch in flight per connection: on a broker just started,
     * a first batch refused with NOT_LEADER_OR_FOLLOWER while later ones were in flight was retried with
     * OUT_OF_ORDER_SEQUENCE_NUMBER until the delivery timeout, and its requests were lost unseen.
     */
    public static void all(String bootstrapServers, String topic, List<GenerationRequest> requests) {
        java.util.Properties p = KafkaIo.bytesProducer(bootstrapServers);
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>(requests.size());
            for (GenerationRequest r : requests)
                sent.add(producer.send(new ProducerRecord<>(topic, r.getRequestId().getBytes(StandardCharsets.UTF_8), WireCodec.encode(r))));
            producer.flush();
            for (int i = 0; i < sent.size(); i++) {
                try {
                    sent.get(i).get();
                } catch (ExecutionException e) {
                    throw new IllegalStateException("sending " + requests.get(i).getRequestId() + " to " + topic + " at " + bootstrapServers
                            + " failed: " + e.getCause(), e.getCause());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while producing", e);
        }
    }

    /** One JSONL line -> request. @throws IllegalArgumentException with a readable message */
    public static GenerationRequest parse(String line) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("bad JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) throw new IllegalArgumentException("not a JSON object");
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!FIELDS.contains(f)) throw new IllegalArgumentException("unknown field '" + f + "' (known: " + String.join(", ", FIELDS.stream().sorted().toList()) + ")");
        }
        GenerationRequest.Builder b = GenerationRequest.newBuilder();
        b.setRequestId(requireText(n, "request_id"));
        if (present(n, "prompt")) b.setPrompt(requireText(n, "prompt"));
        if (present(n, "messages")) {
            List<ChatMessage> messages = new ArrayList<>();
            JsonNode arr = n.get("messages");
            if (!arr.isArray()) throw new IllegalArgumentException("'messages' must be an array");
            for (int i = 0; i < arr.size(); i++) {
                JsonNode m = arr.get(i);
                if (!m.isObject()) throw new IllegalArgumentException("messages[" + i + "] must be an object {role, content}");
                messages.add(new ChatMessage(requireText(m, "role", "messages[" + i + "].role"),
                        requireText(m, "content", "messages[" + i + "].content")));
            }
            b.setMessages(messages);
        }
        if (!present(n, "max_new_tokens")) throw new IllegalArgumentException("missing 'max_new_tokens'");
        b.setMaxNewTokens(requireInt(n.get("max_new_tokens"), "max_new_tokens"));
        if (present(n, "temperature")) b.setTemperature(requireFloat(n.get("temperature"), "temperature"));
        if (present(n, "top_p")) b.setTopP(requireFloat(n.get("top_p"), "top_p"));
        if (present(n, "top_k")) b.setTopK(requireInt(n.get("top_k"), "top_k"));
        if (present(n, "min_p")) b.setMinP(requireFloat(n.get("min_p"), "min_p"));
        if (present(n, "seed")) {
            JsonNode s = n.get("seed");
            if (!s.isIntegralNumber() || !s.canConvertToLong()) throw new IllegalArgumentException("'seed' must be an integer");
            b.setSeed(s.longValue());
        }
        if (present(n, "stop")) {
            JsonNode s = n.get("stop");
            List<String> stop = new ArrayList<>();
            if (s.isTextual()) {
                stop.add(s.textValue()); // a single stop string, as in the OpenAI API
            } else if (s.isArray()) {
                for (int i = 0; i < s.size(); i++) {
                    if (!s.get(i).isTextual()) throw new IllegalArgumentException("stop[" + i + "] must be a string");
                    stop.add(s.get(i).textValue());
                }
            } else {
                throw new IllegalArgumentException("'stop' must be a string or an array of strings");
            }
            b.setStop(stop);
        }
        if (present(n, "stop_token_ids")) {
            JsonNode s = n.get("stop_token_ids");
            if (!s.isArray()) throw new IllegalArgumentException("'stop_token_ids' must be an array of integers");
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < s.size(); i++) ids.add(requireInt(s.get(i), "stop_token_ids[" + i + "]"));
            b.setStopTokenIds(ids);
        }
        if (present(n, "ignore_eos")) {
            if (!n.get("ignore_eos").isBoolean()) throw new IllegalArgumentException("'ignore_eos' must be true or false");
            b.setIgnoreEos(n.get("ignore_eos").booleanValue());
        }
        if (present(n, "metadata")) {
            JsonNode m = n.get("metadata");
            if (!m.isObject()) throw new IllegalArgumentException("'metadata' must be an object");
            Map<String, String> md = new LinkedHashMap<>();
            for (var it = m.fields(); it.hasNext(); ) {
                var e = it.next();
                JsonNode v = e.getValue();
                if (v.isContainerNode()) throw new IllegalArgumentException("metadata." + e.getKey() + " must be a string, number or boolean");
                md.put(e.getKey(), v.isNull() ? "" : v.asText());
            }
            b.setMetadata(md);
        }
        return b.build();
    }

    private static boolean present(JsonNode n, String field) {
        return n.has(field) && !n.get(field).isNull();
    }

    private static String requireText(JsonNode n, String field) {
        return requireText(n, field, field);
    }

    private static String requireText(JsonNode n, String field, String label) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) throw new IllegalArgumentException("missing '" + label + "'");
        if (!v.isTextual()) throw new IllegalArgumentException("'" + label + "' must be a string, got " + type(v));
        return v.textValue();
    }

    private static int requireInt(JsonNode v, String label) {
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new IllegalArgumentException("'" + label + "' must be a 32-bit integer, got " + v);
        return v.intValue();
    }

    private static float requireFloat(JsonNode v, String label) {
        if (!v.isNumber()) throw new IllegalArgumentException("'" + label + "' must be a number, got " + type(v));
        return v.floatValue();
    }

    private static String type(JsonNode v) {
        return v.getNodeType() == JsonNodeType.STRING ? "a string" : v.getNodeType().name().toLowerCase();
    }
}
