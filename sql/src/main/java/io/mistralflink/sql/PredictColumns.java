package io.mistralflink.sql;

import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.tokenizer.ChatTemplate;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The model's {@code INPUT} and {@code OUTPUT} columns, by name: which the provider reads from a row (the
 * columns of {@code DESCRIPTOR(...)}, in the model's input order) and which it writes. Checked when the
 * model is created, so that a wrong name or type fails there and not in the running job.
 *
 * <p>Input: {@code prompt STRING} and/or {@code messages ARRAY<ROW<role STRING, content STRING>>} (a
 * non-empty prompt wins, as in the Kafka job), and optionally {@code seed BIGINT|INT},
 * {@code temperature FLOAT|DOUBLE}, {@code max_new_tokens INT|BIGINT}, {@code top_p FLOAT|DOUBLE},
 * {@code top_k INT|BIGINT}, {@code min_p FLOAT|DOUBLE}; a NULL value takes the model's option. Output: any of {@code completion
 * STRING}, {@code completion_tokens INT}, {@code prompt_tokens INT}, {@code finish_reason STRING},
 * {@code completion_ids ARRAY<INT>}.
 */
public final class PredictColumns implements Serializable {
    private static final long serialVersionUID = 1L;

    enum In { PROMPT, MESSAGES, SEED, TEMPERATURE, MAX_NEW_TOKENS, TOP_P, TOP_K, MIN_P }
    enum Out { COMPLETION, COMPLETION_TOKENS, PROMPT_TOKENS, FINISH_REASON, COMPLETION_IDS }

    /** One row's request: what to render and the sampling values it carries (null: the model's option). */
    public record RowRequest(String prompt, List<ChatTemplate.Message> messages, Long seed, Float temperature,
                             Integer maxNewTokens, Float topP, Integer topK, Float minP) {}

    private final In[] in;
    private final LogicalTypeRoot[] inRoots;
    private final Out[] out;

    private PredictColumns(In[] in, LogicalTypeRoot[] inRoots, Out[] out) { this.in = in; this.inRoots = inRoots; this.out = out; }

    public static PredictColumns of(ResolvedSchema input, ResolvedSchema output) {
        List<Column> ic = input.getColumns(), oc = output.getColumns();
        In[] in = new In[ic.size()];
        LogicalTypeRoot[] roots = new LogicalTypeRoot[ic.size()];
        for (int i = 0; i < in.length; i++) {
            Column c = ic.get(i);
            In kind = named(In.class, c.getName(), "input");
            for (int j = 0; j < i; j++) if (in[j] == kind) throw ModelOptions.fail("input column '" + c.getName() + "' appears twice");
            LogicalType t = c.getDataType().getLogicalType();
            if (!accepts(kind, t))
                throw ModelOptions.fail("input column '" + c.getName() + "' is " + t.asSummaryString() + ", must be " + expected(kind));
            in[i] = kind;
            roots[i] = t.getTypeRoot();
        }
        if (!List.of(in).contains(In.PROMPT) && !List.of(in).contains(In.MESSAGES))
            throw ModelOptions.fail("the model's INPUT needs a 'prompt STRING' or a 'messages ARRAY<ROW<role STRING, content STRING>>' column");
        Out[] out = new Out[oc.size()];
        for (int i = 0; i < out.length; i++) {
            Column c = oc.get(i);
            Out kind = named(Out.class, c.getName(), "output");
            LogicalType t = c.getDataType().getLogicalType();
            boolean ok = switch (kind) {
                case COMPLETION, FINISH_REASON -> isString(t);
                case COMPLETION_TOKENS, PROMPT_TOKENS -> t.getTypeRoot() == LogicalTypeRoot.INTEGER;
                case COMPLETION_IDS -> t instanceof ArrayType a && a.getElementType().getTypeRoot() == LogicalTypeRoot.INTEGER;
            };
            if (!ok) throw ModelOptions.fail("output column '" + c.getName() + "' is " + t.asSummaryString() + ", must be "
                    + switch (kind) { case COMPLETION, FINISH_REASON -> "STRING"; case COMPLETION_IDS -> "ARRAY<INT>"; default -> "INT"; });
            out[i] = kind;
        }
        return new PredictColumns(in, roots, out);
    }

    private static <E extends Enum<E>> E named(Class<E> kinds, String name, String side) {
        for (E e : kinds.getEnumConstants()) if (e.name().toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) return e;
        List<String> names = new ArrayList<>();
        for (E e : kinds.getEnumConstants()) names.add(e.name().toLowerCase(Locale.ROOT));
        throw ModelOptions.fail("unknown " + side + " column '" + name + "' (known: " + String.join(", ", names) + ")");
    }

    private static boolean accepts(In kind, LogicalType t) {
        LogicalTypeRoot r = t.getTypeRoot();
        return switch (kind) {
            case PROMPT -> isString(t);
            case MESSAGES -> t instanceof ArrayType a && a.getElementType() instanceof RowType row && row.getFieldCount() == 2
                    && row.getFieldNames().get(0).equalsIgnoreCase("role") && row.getFieldNames().get(1).equalsIgnoreCase("content")
                    && isString(row.getTypeAt(0)) && isString(row.getTypeAt(1));
            case SEED, MAX_NEW_TOKENS, TOP_K -> r == LogicalTypeRoot.INTEGER || r == LogicalTypeRoot.BIGINT;
            case TEMPERATURE, TOP_P, MIN_P -> r == LogicalTypeRoot.FLOAT || r == LogicalTypeRoot.DOUBLE;
        };
    }

    private static String expected(In kind) {
        return switch (kind) {
            case PROMPT -> "STRING";
            case MESSAGES -> "ARRAY<ROW<role STRING, content STRING>>";
            case SEED, MAX_NEW_TOKENS, TOP_K -> "INT or BIGINT";
            case TEMPERATURE, TOP_P, MIN_P -> "FLOAT or DOUBLE";
        };
    }

    private static boolean isString(LogicalType t) {
        return t.getTypeRoot() == LogicalTypeRoot.VARCHAR || t.getTypeRoot() == LogicalTypeRoot.CHAR;
    }

    /** The request of a row of the descriptor's columns. */
    public RowRequest read(RowData row) {
        String prompt = null;
        List<ChatTemplate.Message> messages = null;
        Long seed = null;
        Float temperature = null, topP = null, minP = null;
        Integer maxNew = null, topK = null;
        for (int i = 0; i < in.length; i++) {
            if (row.isNullAt(i)) continue;
            switch (in[i]) {
                case PROMPT -> prompt = row.getString(i).toString();
                case MESSAGES -> messages = messages(row.getArray(i));
                case SEED -> seed = integral(row, i);
                case TEMPERATURE -> temperature = decimal(row, i);
                case TOP_P -> topP = decimal(row, i);
                case MIN_P -> minP = decimal(row, i);
                case MAX_NEW_TOKENS -> maxNew = Math.toIntExact(Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, integral(row, i))));
                case TOP_K -> topK = Math.toIntExact(Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, integral(row, i))));
            }
        }
        return new RowRequest(prompt, messages, seed, temperature, maxNew, topP, topK, minP);
    }

    private long integral(RowData row, int i) { return inRoots[i] == LogicalTypeRoot.BIGINT ? row.getLong(i) : row.getInt(i); }

    private float decimal(RowData row, int i) { return inRoots[i] == LogicalTypeRoot.DOUBLE ? (float) row.getDouble(i) : row.getFloat(i); }

    /** Messages with a NULL role or content keep the null: the request's check names them. */
    private static List<ChatTemplate.Message> messages(ArrayData a) {
        List<ChatTemplate.Message> out = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            if (a.isNullAt(i)) { out.add(null); continue; }
            RowData m = a.getRow(i, 2);
            out.add(new ChatTemplate.Message(m.isNullAt(0) ? null : m.getString(0).toString(), m.isNullAt(1) ? null : m.getString(1).toString()));
        }
        return out;
    }

    /** The output row of an answered request. */
    public RowData answer(Sequence s) {
        GenericRowData r = new GenericRowData(out.length);
        for (int i = 0; i < out.length; i++) {
            r.setField(i, switch (out[i]) {
                case COMPLETION -> StringData.fromString(s.text());
                case COMPLETION_TOKENS -> s.generatedCount();
                case PROMPT_TOKENS -> s.promptLength();
                case FINISH_REASON -> StringData.fromString(s.finishReason().wire());
                case COMPLETION_IDS -> new GenericArrayData(java.util.Arrays.stream(s.generated()).boxed().toArray(Integer[]::new));
            });
        }
        return r;
    }

    /** The output row of a request that cannot be answered: NULL everywhere but finish_reason, which names the error. */
    public RowData refusal(String reason) {
        GenericRowData r = new GenericRowData(out.length);
        for (int i = 0; i < out.length; i++) if (out[i] == Out.FINISH_REASON) r.setField(i, StringData.fromString("error: " + reason));
        return r;
    }
}
