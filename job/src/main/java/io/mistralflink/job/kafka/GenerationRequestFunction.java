package io.mistralflink.job.kafka;

import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.inference.TypeStrategies;
import org.apache.flink.types.Row;

/**
 * A prompts-topic record in SQL: {@code generation_request(`value`)} over the bytes of a {@code 'format' =
 * 'raw'} Kafka table decodes the Avro single-object record ({@link DecodeRequests#decodeAndValidate}, the
 * Kafka job's decoding and checks) into the columns ML_PREDICT reads. A record that is not a valid request
 * gives a row whose {@code error} names why (the dead-letter reason) and whose other columns are NULL.
 * Without a seed, the seed is the one the Kafka job derives from the request id, so both sample alike.
 * Stop strings, stop token ids and ignore_eos are not carried (the model has no such columns).
 */
public class GenerationRequestFunction extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    private final RequestValidator validator = new RequestValidator();

    /** Stated, not extracted: Flink's extraction reads the class file with an ASM that predates Java 25's. */
    @Override public TypeInference getTypeInference(DataTypeFactory types) {
        DataType message = DataTypes.ROW(DataTypes.FIELD("role", DataTypes.STRING()), DataTypes.FIELD("content", DataTypes.STRING()));
        return TypeInference.newBuilder()
                .typedArguments(DataTypes.BYTES())
                .outputTypeStrategy(TypeStrategies.explicit(DataTypes.ROW(
                        DataTypes.FIELD("request_id", DataTypes.STRING()), DataTypes.FIELD("prompt", DataTypes.STRING()),
                        DataTypes.FIELD("messages", DataTypes.ARRAY(message)), DataTypes.FIELD("max_new_tokens", DataTypes.INT()),
                        DataTypes.FIELD("temperature", DataTypes.FLOAT()), DataTypes.FIELD("top_p", DataTypes.FLOAT()),
                        DataTypes.FIELD("top_k", DataTypes.INT()), DataTypes.FIELD("min_p", DataTypes.FLOAT()),
                        DataTypes.FIELD("seed", DataTypes.BIGINT()),
                        DataTypes.FIELD("error", DataTypes.STRING()))))
                .build();
    }

    public Row eval(byte[] value) {
        DecodeRequests.Outcome o = DecodeRequests.decodeAndValidate(new RawRecord(null, 0, 0, 0, null, value), validator);
        if (o.request() == null) return Row.of(o.deadLetter().getRequestId(), null, null, null, null, null, null, null, null, o.deadLetter().getReason());
        GenerationRequest g = o.request();
        Row[] messages = g.getMessages() == null ? null
                : g.getMessages().stream().map(m -> Row.of(m.getRole(), m.getContent())).toArray(Row[]::new);
        return Row.of(g.getRequestId(), g.getPrompt(), messages, g.getMaxNewTokens(), g.getTemperature(), g.getTopP(), g.getTopK(), g.getMinP(),
                g.getSeed() != null ? g.getSeed() : SamplingParams.stableSeed(g.getRequestId()), null);
    }
}
