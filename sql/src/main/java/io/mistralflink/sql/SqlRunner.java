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
 * are waited for; {@code SET 'key' = 'value'} and {@code RESET 'key'} change the session's configuration. Updating results print their new rows (+I, +U), not the retractions.
 *
 * <p>Defaults that suit a local try, each overridden by a {@code SET} statement: parallelism 1 (one
 * engine: it uses every core), up to 32 rows in flight per ML_PREDICT subtask (the engine's batch), rows
 * emitted as they finish (ALLOW_UNORDERED: a long row does not hold back the short ones behind it), a one
 * hour timeout per row, and the check of {@code CREATE MODEL} options ({@link CreateModelCheck}).
 */
public final class SqlRunner {
    /** A statement failed: which one, and why, on one line. */
    public static final class StatementException extends IllegalArgumentException {
        StatementException(String message, Throwable cause) { super(message, cause); }
    }

    static final Map<String, String> DEFAULTS = Map.of(
            "parallelism.default", "1",
            "table.exec.async-ml-predict.max-concurrent-operations", "32",
            "table.exec.async-ml-predict.timeout", "1 h",
            "table.exec.async-ml-predict.output-mode", "ALLOW_UNORDERED",
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
                if (setOrReset(env, s)) continue;
                TableResult r = env.executeSql(s);
                if (r.getJobClient().isPresent() && !last) r.await();
                if (last) printed = print(r, json, out);
            } catch (Exception e) {
                throw new StatementException("statement " + (i + 1) + " (" + abbreviate(s) + "): " + reason(e), e);
            }
        }
        return printed;
    }

    private static final java.util.regex.Pattern SET = java.util.regex.Pattern.compile(
            "(?is)SET\\s+'((?:[^']|'')+)'\\s*=\\s*'((?:[^']|'')*)'"), RESET = java.util.regex.Pattern.compile("(?is)RESET\\s+'((?:[^']|'')+)'");

    /**
     * {@code SET 'key' = 'value'} and {@code RESET 'key'}, as Flink's SQL client takes them (a
     * TableEnvironment does not): the key set in the session's table config, for the statements after it.
     */
    private static boolean setOrReset(TableEnvironment env, String s) {
        var set = SET.matcher(s);
        if (set.matches()) {
            env.getConfig().getConfiguration().setString(set.group(1).replace("''", "'"), set.group(2).replace("''", "'"));
            return true;
        }
        var reset = RESET.matcher(s);
        if (reset.matches()) {
            String key = reset.group(1).replace("''", "'");
            if (DEFAULTS.containsKey(key)) env.getConfig().getConfiguration().setString(key, DEFAULTS.get(key));
            else env.getConfig().getConfiguration().removeKey(key);
            return true;
        }
        if (s.matches("(?is)(SET|RESET)(\\s.*)?")) throw new IllegalArgumentException("expected SET 'key' = 'value' or RESET 'key'");
        return false;
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

    /**
     * What is wrong, on one line: our model check's message wherever it is in the chain; Flink's own
     * validation and parse errors as they are; for anything else (a failed job), the outer message and
     * the root cause's.
     */
    static String reason(Throwable e) {
        Throwable root = e;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof org.apache.flink.table.api.ValidationException && c.getMessage() != null
                    && c.getMessage().startsWith("mistral-flink model: ")) return oneLine(c.getMessage());
            root = c;
        }
        if (e instanceof org.apache.flink.table.api.ValidationException || e instanceof org.apache.flink.table.api.TableException
                || e instanceof org.apache.flink.table.api.SqlParserException
                || root == e) return oneLine(String.valueOf(e.getMessage()));
        String outer = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
        return oneLine(outer + ": " + (root.getMessage() == null ? root.toString() : root.getMessage()));
    }

    private static String oneLine(String m) {
        m = m.replaceAll("\\s*\\R\\s*", " ").strip();
        return m.length() <= 500 ? m : m.substring(0, 500) + " ..."; // the planner's messages add whole plans
    }
}
