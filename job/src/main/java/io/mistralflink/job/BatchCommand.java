package io.mistralflink.job;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.PipelineConfig;

import java.io.PrintStream;
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
        List<InferenceRequest> requests = input.toString().endsWith(".avro") ? BatchInput.readAvro(input, config.modelDir(), err)
                : BatchInput.read(input, err);
        if (requests.isEmpty()) throw new Args.UsageException("--input " + input + ": no valid request");
        var o = BoundedRun.run("batch", config, requests, output, "requests", "request_id", BatchCommand::json,
                c -> c.completionIds().length, c -> {}, err, a.flag("quiet"), a.flag("resume"));
        return o.results() == o.requests() ? 0 : 1;
    }

    static ObjectNode json(CompletionResult c) {
        ObjectNode o = BoundedRun.line(c, "request_id");
        if (c.refused()) return o;
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
}
