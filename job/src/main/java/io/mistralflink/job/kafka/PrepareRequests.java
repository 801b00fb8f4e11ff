package io.mistralflink.job.kafka;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.ChatTemplate;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Raw prompt records -> pipeline requests. Decodes and validates the Avro record
 * ({@link DecodeRequests#decodeAndValidate}), renders {@code messages} with the checkpoint's chat
 * template, checks the prompt's token count against the model's context, and maps the sampling
 * fields. Everything it cannot accept goes to {@link DecodeRequests#DEAD_LETTERS} with its reason,
 * the original bytes and topic/partition/offset; it never throws for bad input.
 *
 * <p>Where a record came from travels with the request in metadata keys under {@link #RESERVED}
 * (so that a refusal by the scheduler, e.g. a duplicate id, can still name it); they are removed
 * before anything is written out. Callers' own keys with that prefix are dropped.
 *
 * <p>Defaults: no temperature means greedy (as Hugging Face's generate without do_sample); no
 * top_p 1, no top_k 0, no min_p 0; no seed means a seed derived from the request id, so a replayed request
 * samples the same text.
 */
public class PrepareRequests extends ProcessFunction<RawRecord, InferenceRequest> {
    private static final long serialVersionUID = 1L;

    /** Prefix of the metadata keys this job adds (and strips). */
    public static final String RESERVED = "mistral-flink.";
    static final String TOPIC = RESERVED + "topic", PARTITION = RESERVED + "partition", OFFSET = RESERVED + "offset";

    private final String modelDir;
    private final RequestValidator validator;
    private transient Tokenizer tokenizer;
    private transient ModelConfig model;
    private transient Optional<ChatTemplate> template;
    private transient Counter accepted, deadLettered;
    private transient ReadOffsets read;

    public PrepareRequests(String modelDir, RequestValidator validator) {
        this.modelDir = modelDir;
        this.validator = validator;
    }

    @Override public void open(OpenContext ctx) {
        load();
        MetricGroup g = getRuntimeContext().getMetricGroup().addGroup("inference");
        accepted = g.counter("requestsAccepted");
        deadLettered = g.counter("requestsDeadLettered");
        read = new ReadOffsets();
        getRuntimeContext().addAccumulator(ReadOffsets.NAME, read);
    }

    @Override public void processElement(RawRecord in, Context ctx, Collector<InferenceRequest> out) {
        read.add(in);
        Object o;
        try {
            o = prepare(in);
        } catch (RuntimeException | Error e) {
            // a record must not fail the job, whatever it makes us throw (an OutOfMemoryError too): restarting
            // would read it again, and again
            o = DecodeRequests.deadLetter(in, null, "check_failed: preparing the record threw " + e);
        }
        if (o instanceof InferenceRequest r) {
            accepted.inc();
            out.collect(r);
        } else {
            deadLettered.inc();
            ctx.output(DecodeRequests.DEAD_LETTERS, (DeadLetter) o);
        }
    }

    private void load() {
        Path dir = Path.of(modelDir);
        model = ModelConfig.load(dir);
        tokenizer = Tokenizer.load(dir);
        template = ChatTemplate.load(dir);
    }

    /** The same preparation outside a Flink job (a batch's Avro input): the model's tokenizer and template loaded now. */
    public static PrepareRequests local(String modelDir, RequestValidator validator) {
        PrepareRequests p = new PrepareRequests(modelDir, validator);
        p.load();
        return p;
    }

    /** An {@link InferenceRequest} or a {@link DeadLetter}. */
    public Object prepare(RawRecord in) {
        DecodeRequests.Outcome o = DecodeRequests.decodeAndValidate(in, validator);
        if (o.deadLetter() != null) return o.deadLetter();
        GenerationRequest g = o.request();
        String id = g.getRequestId();
        if (id.indexOf('\n') >= 0) return DecodeRequests.deadLetter(in, id, "invalid_request: request_id must not contain a line break");
        String prompt;
        if (g.getPrompt() != null && !g.getPrompt().isEmpty()) {
            prompt = g.getPrompt();
        } else if (template.isEmpty()) {
            return DecodeRequests.deadLetter(in, id, "no_chat_template: the model " + Path.of(modelDir).getFileName()
                    + " has no chat_template in tokenizer_config.json; send 'prompt' instead of 'messages'");
        } else {
            try {
                prompt = template.get().render(turns(g.getMessages()));
            } catch (RuntimeException e) {
                return DecodeRequests.deadLetter(in, id, "chat_template: " + e.getMessage());
            }
        }
        int[] ids;
        try {
            ids = tokenizer.encode(prompt);
        } catch (RuntimeException | Error e) {
            return DecodeRequests.deadLetter(in, id, "check_failed: the prompt cannot be tokenized: " + e);
        }
        if (ids.length >= model.maxPositions())
            return DecodeRequests.deadLetter(in, id, "prompt_too_long: prompt of " + ids.length
                    + " tokens does not fit the model's context of " + model.maxPositions() + " tokens");
        SamplingParams params;
        try {
            params = sampling(g);
        } catch (IllegalArgumentException e) {
            return DecodeRequests.deadLetter(in, id, "invalid_request: " + e.getMessage());
        }
        Map<String, String> metadata = new HashMap<>();
        if (g.getMetadata() != null) g.getMetadata().forEach((k, v) -> { if (!k.startsWith(RESERVED)) metadata.put(k, v); });
        metadata.put(TOPIC, in.topic == null ? "" : in.topic);
        metadata.put(PARTITION, Integer.toString(in.partition));
        metadata.put(OFFSET, Long.toString(in.offset));
        return new InferenceRequest(id, prompt, params, metadata, System.currentTimeMillis(), ids, in.value, false); // tokenized once, here
    }

    /** A request's messages as the chat template takes them. */
    public static List<ChatTemplate.Message> turns(List<ChatMessage> messages) {
        return messages.stream().map(m -> new ChatTemplate.Message(m.getRole(), m.getContent())).toList();
    }

    /** The engine's sampling parameters of a request (the defaults of the class doc applied). */
    public static SamplingParams sampling(GenerationRequest g) {
        float t = g.getTemperature() == null ? 0f : g.getTemperature();
        float p = g.getTopP() == null ? 1f : g.getTopP();
        int k = g.getTopK() == null ? 0 : g.getTopK();
        float minP = g.getMinP() == null ? 0f : g.getMinP();
        long seed = g.getSeed() != null ? g.getSeed() : SamplingParams.stableSeed(g.getRequestId());
        List<String> stop = g.getStop() == null ? List.of() : g.getStop();
        int[] stopIds = g.getStopTokenIds() == null ? new int[0] : g.getStopTokenIds().stream().mapToInt(Integer::intValue).toArray();
        return new SamplingParams(t, p, k, minP, seed, g.getMaxNewTokens(), g.getIgnoreEos(), stop, stopIds);
    }

    /** The caller's metadata of a result, without the keys this job added. */
    public static Map<String, String> callerMetadata(Map<String, String> metadata) {
        Map<String, String> m = new HashMap<>();
        if (metadata != null) metadata.forEach((k, v) -> { if (!k.startsWith(RESERVED)) m.put(k, v); });
        return m;
    }

    @Override public void close() {
        if (tokenizer != null) tokenizer.close();
    }
}
