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
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code batch}: a bounded run of the full pipeline, JSONL requests in, JSONL completions out. */
final class BatchCommand {
    static final List<String> OPTIONS;
    static {
        List<String> o = new ArrayList<>(PipelineArgs.OPTIONS);
        o.addAll(List.of("input", "output"));
        OPTIONS = List.copyOf(o);
    }

    private BatchCommand() {}

    static int run(Args a, PrintStream out, PrintStream err) {
        PipelineConfig config = PipelineArgs.parse(a);
        Path input = Path.of(a.required("input")), output = Path.of(a.required("output"));
        List<InferenceRequest> requests = BatchInput.read(input, err);
        if (requests.isEmpty()) throw new Args.UsageException("--input " + input + ": no valid request");
        StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config, new Configuration());
        var completions = Pipeline.build(env.fromData(requests).setParallelism(1), config);
        long start = System.nanoTime(), tokens = 0;
        int done = 0, refused = 0;
        Progress progress = new Progress(err, requests.size(), a.flag("quiet"), "requests");
        try (BufferedWriter w = Files.newBufferedWriter(output);
             CloseableIterator<CompletionResult> it = completions.executeAndCollect("mistral-flink batch")) {
            while (it.hasNext()) {
                CompletionResult c = it.next();
                w.write(json(c).toString());
                w.newLine();
                done++;
                if (c.refused()) refused++;
                tokens += c.completionIds().length;
                progress.update(done, tokens, System.nanoTime() - start);
            }
        } catch (Exception e) {
            throw new IllegalStateException("batch run failed: " + e.getMessage(), e);
        }
        progress.finish(done, tokens, System.nanoTime() - start);
        if (refused > 0) err.println(refused + " request(s) refused: see \"error\" in " + output);
        return done == requests.size() ? 0 : 1;
    }

    static ObjectNode json(CompletionResult c) {
        ObjectNode o = Cli.JSON.createObjectNode();
        o.put("request_id", c.id());
        if (c.refused()) {
            o.put("error", c.error());
            return o;
        }
        o.put("text", c.text());
        Cli.ints(o.putArray("completion_ids"), c.completionIds());
        o.put("prompt_tokens", c.promptTokens());
        o.put("completion_tokens", c.completionIds().length);
        o.put("finish_reason", c.finishReason());
        if (!c.metadata().isEmpty()) {
            ObjectNode m = o.putObject("metadata");
            c.metadata().forEach(m::put);
        }
        return o;
    }

    /** One line on stderr, redrawn in place: items done, tokens per second (batch and eval). */
    record Progress(PrintStream err, int total, boolean quiet, String items) {
        void update(int done, long tokens, long nanos) {
            if (quiet) return;
            int width = 30, filled = (int) ((long) width * done / total);
            err.printf("\r[%s%s] %d/%d %s, %.0f tokens/s", "=".repeat(filled), " ".repeat(width - filled), done, total, items,
                    tokens / Math.max(1e-9, nanos / 1e9));
        }

        void finish(int done, long tokens, long nanos) {
            update(done, tokens, nanos);
            if (!quiet) err.println();
        }
    }
}
