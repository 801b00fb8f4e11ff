package io.mistralflink.job.kafka;

import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import io.mistralflink.schemas.WireFormatException;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Optional;

/**
 * Decodes and validates raw prompt records. Valid requests go to the main output; everything else
 * goes to {@link #DEAD_LETTERS} with a reason, the original bytes and topic/partition/offset. The
 * function never throws for bad input, so one bad record cannot fail (and restart) the job.
 *
 * <p>Reasons start with a stable code: {@code not_avro}, {@code unknown_schema},
 * {@code wrong_record_type}, {@code corrupt}, {@code invalid_request}, {@code check_failed}.
 */
public class DecodeRequests extends ProcessFunction<RawRecord, GenerationRequest> {

    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("dead-letters", new AvroTypeInfo<>(DeadLetter.class));

    private final RequestValidator validator;
    private transient Counter accepted;
    private transient Counter rejected;

    public DecodeRequests(RequestValidator validator) {
        this.validator = validator;
    }

    /**
     * {@code raw.process(new DecodeRequests(v))} with the output types set; dead letters via
     * {@code result.getSideOutput(DecodeRequests.DEAD_LETTERS)}.
     */
    public static SingleOutputStreamOperator<GenerationRequest> apply(DataStream<RawRecord> raw, RequestValidator validator) {
        return raw.process(new DecodeRequests(validator))
                .returns(new AvroTypeInfo<>(GenerationRequest.class))
                .name("decode-validate-requests")
                .uid("decode-validate-requests");
    }

    @Override
    public void open(OpenContext ctx) {
        accepted = getRuntimeContext().getMetricGroup().counter("requestsAccepted");
        rejected = getRuntimeContext().getMetricGroup().counter("requestsDeadLettered");
    }

    @Override
    public void processElement(RawRecord in, Context ctx, Collector<GenerationRequest> out) {
        Outcome o = decodeAndValidate(in, validator);
        if (o.request != null) {
            if (accepted != null) accepted.inc();
            out.collect(o.request);
        } else {
            if (rejected != null) rejected.inc();
            ctx.output(DEAD_LETTERS, o.deadLetter);
        }
    }

    /** The key as text, if it is valid UTF-8 (producers key prompts by request id). */
    static String keyText(byte[] key) {
        if (key == null || key.length == 0) return null;
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(key)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            return null;
        }
    }

    /** Either a valid request or a dead letter. */
    public record Outcome(GenerationRequest request, DeadLetter deadLetter) {}

    /** The pure core of the function (also usable outside Flink). */
    public static Outcome decodeAndValidate(RawRecord in, RequestValidator validator) {
        GenerationRequest request;
        try {
            request = WireCodec.decodeRequest(in.value);
        } catch (WireFormatException e) {
            return new Outcome(null, deadLetter(in, null, e.kind().name().toLowerCase(Locale.ROOT) + ": " + e.getMessage()));
        } catch (RuntimeException | Error e) {
            // whatever decoding throws, OutOfMemoryError included, is this record's fault: one dead letter
            return new Outcome(null, deadLetter(in, null, "corrupt: " + e));
        }
        Optional<String> reason;
        try {
            reason = validator.validate(request);
        } catch (RuntimeException | Error e) {
            return new Outcome(null, deadLetter(in, request.getRequestId(), "check_failed: a validation check threw " + e));
        }
        if (reason.isPresent()) {
            return new Outcome(null, deadLetter(in, request.getRequestId(), "invalid_request: " + reason.get()));
        }
        return new Outcome(request, null);
    }

    /** A dead letter of {@code in}; without a request id (the value did not decode) the Kafka key, when it is UTF-8, names it. */
    static DeadLetter deadLetter(RawRecord in, String requestId, String reason) {
        return DeadLetter.newBuilder()
                .setRequestId(requestId != null ? requestId : keyText(in.key))
                .setReason(reason)
                .setOriginal(ByteBuffer.wrap(in.value == null ? new byte[0] : in.value))
                .setTopic(in.topic)
                .setPartition(in.partition)
                .setOffset(in.offset)
                .build();
    }
}
