package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

import java.io.BufferedWriter;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * A bounded run of the full pipeline on a local MiniCluster (the {@code batch} and {@code eval}
 * commands): one JSON line per result into the output file, a progress line on stderr.
 *
 * <p>With {@code resume} a run continues an interrupted one from its output, not from a Flink
 * savepoint: the output is the truth of what was answered. Every complete line's id is done; a torn
 * last line (the process died mid-write) is cut off; the other requests run and their lines are
 * appended. Requests that were in flight are generated again from the start, and, sampling being
 * deterministic per (seed, step), give the same lines an uninterrupted run would have.
 */
public final class BoundedRun {
    private BoundedRun() {}

    /** requests: how many this run submitted (with --resume, those not already answered); results: how many came back. */
    public record Outcome(int requests, int results, int refused, long tokens, double seconds) {}

    /**
     * @param line   the output line of a result, an object Jackson writes
     * @param items  what the requests are, for the progress line ("requests", "documents")
     * @param tokens the tokens a result counts for the progress line's rate
     * @param each   called with every result, in arrival order
     */
    public static Outcome run(String command, PipelineConfig config, List<InferenceRequest> requests, Path output, String items,
                       String idKey, Function<CompletionResult, ?> line, ToLongFunction<CompletionResult> tokens,
                       Consumer<CompletionResult> each, PrintStream err, boolean quiet, boolean resume) {
        if (resume && Files.exists(output)) {
            Set<String> answered = answered(output, idKey);
            requests = requests.stream().filter(r -> !answered.contains(r.id())).toList();
            err.println(command + ": " + answered.size() + " " + items + " already in " + output + ", " + requests.size() + " to go");
            if (requests.isEmpty()) return new Outcome(0, 0, 0, 0, 0);
        }
        StreamExecutionEnvironment env = LocalEnvironment.localEnvironment(config, new Configuration());
        var results = Pipeline.build(env.fromData(requests).setParallelism(1), config);
        long start = System.nanoTime(), total = 0;
        int done = 0, refused = 0;
        var mode = resume ? new StandardOpenOption[]{StandardOpenOption.CREATE, StandardOpenOption.APPEND}
                : new StandardOpenOption[]{StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE};
        try (BufferedWriter w = Files.newBufferedWriter(output, mode);
             CloseableIterator<CompletionResult> it = results.executeAndCollect("mistral-flink " + command)) {
            while (it.hasNext()) {
                CompletionResult c = it.next();
                w.write(Json.line(line.apply(c)));
                w.newLine();
                done++;
                if (c.refused()) refused++;
                total += tokens.applyAsLong(c);
                each.accept(c);
                progress(err, quiet, done, requests.size(), items, total, System.nanoTime() - start);
            }
        } catch (Exception e) {
            throw new IllegalStateException(command + " run failed: " + e.getMessage() + " (rerun with --resume to continue)", e);
        }
        if (!quiet) err.println();
        if (refused > 0) err.println(refused + " " + items + " refused: see \"error\" in " + output);
        return new Outcome(requests.size(), done, refused, total, (System.nanoTime() - start) / 1e9);
    }

    /**
     * The ids of an output's complete lines; a torn last line (no newline, or not JSON) is cut off the file,
     * so that appended lines start on a line of their own.
     */
    static Set<String> answered(Path output, String idKey) {
        try {
            byte[] bytes = Files.readAllBytes(output);
            int end = bytes.length;
            while (end > 0 && bytes[end - 1] != '\n') end--;   // a last line without its newline was torn
            Set<String> ids = new HashSet<>();
            int from = 0;
            for (int i = 0; i < end; i++) {
                if (bytes[i] != '\n') continue;
                String line = new String(bytes, from, i - from, StandardCharsets.UTF_8);
                if (!line.isBlank()) {
                    JsonNode j;
                    try {
                        j = Json.MAPPER.readTree(line);
                    } catch (java.io.IOException e) {
                        throw new UsageException("--resume: " + output + " holds a line that is not JSON: " + line);
                    }
                    if (!j.hasNonNull(idKey)) throw new UsageException("--resume: " + output + " holds a line without \"" + idKey + "\": " + line);
                    ids.add(j.get(idKey).asText());
                }
                from = i + 1;
            }
            if (end < bytes.length) try (FileChannel ch = FileChannel.open(output, StandardOpenOption.WRITE)) { ch.truncate(end); }
            return ids;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("--resume: " + output + ": " + e.getMessage(), e);
        }
    }

    /** One line, redrawn in place: items done, tokens per second. */
    private static void progress(PrintStream err, boolean quiet, int done, int total, String items, long tokens, long nanos) {
        if (quiet) return;
        int width = 30, filled = (int) ((long) width * done / total);
        err.printf("\r[%s%s] %d/%d %s, %.0f tokens/s", "=".repeat(filled), " ".repeat(width - filled), done, total, items,
                tokens / Math.max(1e-9, nanos / 1e9));
    }
}
