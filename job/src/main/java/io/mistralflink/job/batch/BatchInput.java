package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.job.kafka.PrepareRequests;
import io.mistralflink.job.kafka.RawRecord;
import io.mistralflink.job.kafka.RequestValidator;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.specific.SpecificDatumReader;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads batch requests: one JSON object a line, or ({@code .avro}) an Avro object container of
 * {@code GenerationRequest} records, the Kafka job's wire schema. A bad line or record is reported with
 * its number and reason and skipped; the others run.
 */
public final class BatchInput {
    private static final Set<String> FIELDS = Set.of("request_id", "prompt", "max_new_tokens", "temperature", "top_p", "top_k",
            "min_p", "seed", "stop", "ignore_eos", "metadata");

    private BatchInput() {}

    public static List<InferenceRequest> read(Path file, PrintStream err) {
        List<InferenceRequest> out = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        try (BufferedReader in = Files.newBufferedReader(file)) {
            int n = 0;
            for (String line; (line = in.readLine()) != null; ) {
                n++;
                if (line.isBlank()) continue;
                try {
                    InferenceRequest r = parse(Json.MAPPER.readTree(line));
                    if (!ids.add(r.id())) throw new IllegalArgumentException("duplicate request_id '" + r.id() + "'");
                    out.add(r);
                } catch (IOException | IllegalArgumentException e) {
                    err.println(file + ": line " + n + ": " + e.getMessage().lines().findFirst().orElse("invalid"));
                }
            }
        } catch (IOException e) {
            throw new UsageException("--input " + file + ": cannot be read (" + e.getMessage() + ")");
        }
        return out;
    }

    /**
     * Requests from an Avro object container of {@code GenerationRequest} records, prepared as the Kafka job
     * prepares them (the same validation, chat template, tokenization; {@link PrepareRequests}).
     */
    public static List<InferenceRequest> readAvro(Path file, String modelDir, PrintStream err) {
        List<InferenceRequest> out = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        PrepareRequests prepare = PrepareRequests.local(modelDir, new RequestValidator());
        try (DataFileReader<GenerationRequest> in = new DataFileReader<>(file.toFile(), new SpecificDatumReader<>(GenerationRequest.class))) {
            long n = 0;
            while (in.hasNext()) {
                GenerationRequest g = in.next();
                n++;
                Object o = prepare.prepare(new RawRecord(file.toString(), 0, n, -1, null, WireCodec.encode(g)));
                if (o instanceof DeadLetter d) err.println(file + ": record " + n + ": " + d.getReason());
                else if (!ids.add(((InferenceRequest) o).id())) err.println(file + ": record " + n + ": duplicate request_id '" + g.getRequestId() + "'");
                else {
                    InferenceRequest r = (InferenceRequest) o;
                    out.add(new InferenceRequest(r.id(), r.prompt(), r.params(), PrepareRequests.callerMetadata(r.metadata()),
                            r.receivedMillis(), r.promptIds()));
                }
            }
        } catch (IOException | org.apache.avro.AvroRuntimeException e) {
            throw new UsageException("--input " + file + ": not an Avro container of GenerationRequest records (" + e.getMessage() + ")");
        } finally {
            prepare.close();
        }
        return out;
    }

    public static InferenceRequest parse(JsonNode j) {
        if (!j.isObject()) throw new IllegalArgumentException("not a JSON object");
        j.fieldNames().forEachRemaining(f -> { if (!FIELDS.contains(f)) throw new IllegalArgumentException("unknown field '" + f + "'"); });
        String id = text(j, "request_id");
        if (id.isEmpty() || id.contains("\n")) throw new IllegalArgumentException("request_id must be non-empty, on one line");
        String prompt = text(j, "prompt");
        if (prompt.isEmpty()) throw new IllegalArgumentException("prompt is empty");
        if (!j.path("max_new_tokens").canConvertToInt()) throw new IllegalArgumentException("max_new_tokens must be an integer");
        List<String> stop = new ArrayList<>();
        j.path("stop").forEach(s -> stop.add(s.asText()));
        SamplingParams p = new SamplingParams((float) j.path("temperature").asDouble(0), (float) j.path("top_p").asDouble(1),
                j.path("top_k").asInt(0), (float) j.path("min_p").asDouble(0), j.path("seed").asLong(0), j.get("max_new_tokens").asInt(), j.path("ignore_eos").asBoolean(false),
                stop, new int[0]);
        Map<String, String> meta = new HashMap<>();
        j.path("metadata").fields().forEachRemaining(e -> meta.put(e.getKey(), e.getValue().asText()));
        return new InferenceRequest(id, prompt, p, meta, System.currentTimeMillis());
    }

    private static String text(JsonNode j, String field) {
        JsonNode v = j.get(field);
        if (v == null || !v.isTextual()) throw new IllegalArgumentException(field + " must be a string");
        return v.asText();
    }
}
