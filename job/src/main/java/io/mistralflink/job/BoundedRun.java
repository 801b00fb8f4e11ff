package io.mistralflink.job;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

import java.io.BufferedWriter;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * A bounded run of the full pipeline on a local MiniCluster (the {@code batch} and {@code eval}
 * commands): one JSON line per result into the output file, a progress line on stderr.
 */
final class BoundedRun {
    private BoundedRun() {}

    record Outcome(int results, int refused, long tokens, double seconds) {}

    /**
     * @param items  what the requests are, for the progress line ("requests", "documents")
     * @param tokens the tokens a result counts for the progress line's rate
     * @param each   called with every result, in arrival order
     */
    static Outcome run(String command, PipelineConfig config, List<InferenceRequest> requests, Path output, String items,
                       Function<CompletionResult, ObjectNode> json, ToLongFunction<CompletionResult> tokens,
                       Consumer<CompletionResult> each, PrintStream err, boolean quiet) {
        StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config, new Configuration());
        var results = Pipeline.build(env.fromData(requests).setParallelism(1), config);
        long start = System.nanoTime(), total = 0;
        int done = 0, refused = 0;
        try (BufferedWriter w = Files.newBufferedWriter(output);
             CloseableIterator<CompletionResult> it = results.executeAndCollect("mistral-flink " + command)) {
            while (it.hasNext()) {
                CompletionResult c = it.next();
                w.write(json.apply(c).toString());
                w.newLine();
                done++;
                if (c.refused()) refused++;
                total += tokens.applyAsLong(c);
                each.accept(c);
                progress(err, quiet, done, requests.size(), items, total, System.nanoTime() - start);
            }
        } catch (Exception e) {
            throw new IllegalStateException(command + " run failed: " + e.getMessage(), e);
        }
        if (!quiet) err.println();
        if (refused > 0) err.println(refused + " " + items + " refused: see \"error\" in " + output);
        return new Outcome(done, refused, total, (System.nanoTime() - start) / 1e9);
    }

    /** A result's output line: its id under idKey, and a refused request's error (nothing more goes on that line). */
    static ObjectNode line(CompletionResult c, String idKey) {
        ObjectNode o = Cli.JSON.createObjectNode();
        o.put(idKey, c.id());
        if (c.refused()) o.put("error", c.error());
        return o;
    }

    /** One line, redrawn in place: items done, tokens per second. */
    private static void progress(PrintStream err, boolean quiet, int done, int total, String items, long tokens, long nanos) {
        if (quiet) return;
        int width = 30, filled = (int) ((long) width * done / total);
        err.printf("\r[%s%s] %d/%d %s, %.0f tokens/s", "=".repeat(filled), " ".repeat(width - filled), done, total, items,
                tokens / Math.max(1e-9, nanos / 1e9));
    }
}
