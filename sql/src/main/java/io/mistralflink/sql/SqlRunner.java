package io.mistralflink.sql;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.ResultKind;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.CloseableIterator;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;

/**
 * Runs SQL statements in order on a local MiniCluster (a streaming TableEnvironment in this JVM) and
 * prints the rows of the last one: a header and tab-separated values, or with {@code json} one JSON
 * object per row, the column names as keys. Statements before the last that start jobs ({@code INSERT})
 * are waited for. Updating results print their new rows (+I, +U), not the retractions.
 *
 * <p>Defaults that suit a local try, each overridden by a {@code SET} statement: parallelism 1 (one
 * engine: it uses every core), up to 32 rows in flight per ML_PREDICT subtask (the engine's batch), a one
 * hour timeout per row, and the check of {@code CREATE MODEL} options ({@link CreateModelCheck}).
 */
public final class SqlRunner {
    /** A statement failed: which one, and why, on one line. */
    public static final class StatementException extends RuntimeException {
        StatementException(String message, Throwable cause) { super(message, cause); }
    }

    static final Map<String, String> DEFAULTS = Map.of(
            "parallelism.default", "1",
            "table.exec.async-ml-predict.max-concurrent-operations", "32",
            "table.exec.async-ml-predict.timeout", "1 h",
            "table.catalog-modification.listeners", MistralModelProviderFactory.IDENTIFIER);

    private static final ObjectMapper JSON = new ObjectMapper();

    private SqlRunner() {}

    /** Runs the script; returns the number of rows printed. */
    public static long run(String script, boolean json, PrintStream out) {
        List<String> statements;
        try {
            statements = Statements.split(script);
        } catch (IllegalArgumentException e) {
            throw new StatementException(e.getMessage(), e);
        }
        if (statements.isEmpty()) throw new StatementException("no SQL statement given", null);
        Configuration conf = new Configuration();
        DEFAULTS.forEach(conf::setString);
        TableEnvironment env = TableEnvironment.create(EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(conf).build());
        long printed = 0;
        for (int i = 0; i < statements.size(); i++) {
            String s = statements.get(i);
            boolean last = i == statements.size() - 1;
            try {
                TableResult r = env.executeSql(s);
                if (r.getJobClient().isPresent() && !last) r.await();
                if (last) printed = print(r, json, out);
            } catch (Exception e) {
                throw new StatementException("statement " + (i + 1) + " (" + abbreviate(s) + "): " + reason(e), e);
            }
        }
        return printed;
    }

    private static long print(TableResult r, boolean json, PrintStream out) throws Exception {
        if (r.getResultKind() != ResultKind.SUCCESS_WITH_CONTENT) {
            r.await();
            return 0;
        }
        List<String> names = r.getResolvedSchema().getColumnNames();
        if (!json) out.println(String.join("\t", names));
        long n = 0;
        try (CloseableIterator<Row> rows = r.collect()) {
            while (rows.hasNext()) {
                Row row = rows.next();
                if (row.getKind() == RowKind.UPDATE_BEFORE || row.getKind() == RowKind.DELETE) continue;
                if (json) {
                    ObjectNode o = JSON.createObjectNode();
                    for (int c = 0; c < names.size(); c++) o.set(names.get(c), node(row.getField(c)));
                    out.println(JSON.writeValueAsString(o));
                } else {
                    StringBuilder b = new StringBuilder();
                    for (int c = 0; c < names.size(); c++) {
                        if (c > 0) b.append('\t');
                        b.append(text(row.getField(c)));
                    }
                    out.println(b);
                }
                out.flush();
                n++;
            }
        }
        return n;
    }

    /** A SQL value as JSON: numbers, strings, booleans, arrays, rows (objects by field name), maps; the rest as its text. */
    static JsonNode node(Object v) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        return switch (v) {
            case null -> f.nullNode();
            case String s -> f.textNode(s);
            case Boolean b -> f.booleanNode(b);
            case Integer x -> f.numberNode(x);
            case Long x -> f.numberNode(x);
            case Short x -> f.numberNode(x);
            case Byte x -> f.numberNode(x);
            case Float x -> f.numberNode(x);
            case Double x -> f.numberNode(x);
            case java.math.BigDecimal x -> f.numberNode(x);
            case Row row -> {
                ObjectNode o = f.objectNode();
                java.util.Set<String> names = row.getFieldNames(true);
                if (names != null) for (String k : names) o.set(k, node(row.getField(k)));
                else for (int i = 0; i < row.getArity(); i++) o.set("f" + i, node(row.getField(i)));
                yield o;
            }
            case Map<?, ?> m -> {
                ObjectNode o = f.objectNode();
                m.forEach((k, x) -> o.set(String.valueOf(k), node(x)));
                yield o;
            }
            case byte[] bytes -> f.binaryNode(bytes);
            case Object[] a -> { ArrayNode arr = f.arrayNode(); for (Object x : a) arr.add(node(x)); yield arr; }
            case int[] a -> { ArrayNode arr = f.arrayNode(); for (int x : a) arr.add(x); yield arr; }
            case long[] a -> { ArrayNode arr = f.arrayNode(); for (long x : a) arr.add(x); yield arr; }
            case float[] a -> { ArrayNode arr = f.arrayNode(); for (float x : a) arr.add(x); yield arr; }
            case double[] a -> { ArrayNode arr = f.arrayNode(); for (double x : a) arr.add(x); yield arr; }
            default -> f.textNode(v.toString());
        };
    }

    /** A value in the tab-separated output: NULL, or its JSON text for composites; tabs and line breaks escaped. */
    private static String text(Object v) {
        if (v == null) return "NULL";
        String s = v instanceof String str ? str : node(v).isValueNode() ? node(v).asText() : node(v).toString();
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    private static String abbreviate(String s) {
        String one = s.replaceAll("\\s+", " ").strip();
        return one.length() <= 60 ? one : one.substring(0, 57) + "...";
    }

    /** The message that says what is wrong: the innermost one of ours or Flink's validation, on one line. */
    static String reason(Throwable e) {
        Throwable best = e;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c.getMessage() != null && c.getMessage().startsWith("mistral-flink model: ")) { best = c; break; }
            if (c.getCause() == null) best = best == e && c.getMessage() != null && !(e instanceof org.apache.flink.table.api.ValidationException) ? c : best;
        }
        String m = best.getMessage() == null ? best.toString() : best.getMessage();
        if (best != e && e.getMessage() != null && !(best.getMessage() != null && best.getMessage().startsWith("mistral-flink model: "))) {
            String outer = e.getMessage().lines().findFirst().orElse("");
            if (!m.contains(outer)) m = outer + ": " + m;
        }
        return m.replaceAll("\\s*\\R\\s*", " ").strip();
    }
}
