package io.mistralflink.job;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.PipelineConfig;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code batch}: a bounded run of the full pipeline. {@code --output F.jsonl}: requests read here, one
 * local JSONL file out, resumable from it ({@code --resume}); any other {@code --output}: a directory of
 * part files committed on checkpoints, the input read by Flink's file source ({@link FileBatch}).
 */
final class BatchCommand {
    static final List<String> OPTIONS;
    static {
        List<String> o = new ArrayList<>(PipelineArgs.OPTIONS);
        o.addAll(List.of("input", "output", "output-format", "checkpoint-dir", "checkpoint-interval-ms", "part-size", "readers"));
        OPTIONS = List.copyOf(o);
    }

    private BatchCommand() {}

    static int run(Args a, PrintStream out, PrintStream err) {
        requireApart(a.required("input"), a.required("output"));
        PipelineConfig config = PipelineArgs.parse(a);
        if (!singleFile(a.required("output"))) return FileBatch.run(a, config, out, err);
        for (String o : List.of("output-format", "checkpoint-dir", "checkpoint-interval-ms", "part-size", "readers"))
            if (a.has(o)) throw new Args.UsageException("--" + o + " is for an --output directory, not a single " + a.required("output"));
        if (a.flag("cluster")) throw new Args.UsageException("--cluster needs an --output directory (part files), not a local " + a.required("output"));
        Path input = Path.of(a.required("input")), output = Path.of(a.required("output"));
        if (java.nio.file.Files.isDirectory(input) || BatchFileFormat.isParquet(input.toString()))
            throw new Args.UsageException("--input " + input + ": a directory or Parquet input is read into an --output directory (part files)");
        List<InferenceRequest> requests = input.toString().endsWith(".avro") ? BatchInput.readAvro(input, config.modelDir(), err)
                : BatchInput.read(input, err);
        if (requests.isEmpty()) throw new Args.UsageException("--input " + input + ": no valid request");
        var o = BoundedRun.run("batch", config, requests, output, "requests", "request_id", BatchCommand::json,
                c -> c.completionIds().length, c -> {}, err, a.flag("quiet"), a.flag("resume"));
        return o.results() == o.requests() ? 0 : 1;
    }

    /** An output that is the input, or lies inside an input directory, would overwrite it or be read back as requests. */
    static void requireApart(String input, String output) {
        java.net.URI in = location(input), o = location(output);
        String dir = in.getPath().endsWith("/") ? in.getPath() : in.getPath() + "/";
        if (o.equals(in) || (java.util.Objects.equals(o.getScheme(), in.getScheme()) && o.getPath().startsWith(dir)))
            throw new Args.UsageException("--output " + output + " is the --input or inside it: write the results elsewhere");
    }

    private static java.net.URI location(String path) {
        return path.contains("://") ? java.net.URI.create(path).normalize() : Path.of(path).toAbsolutePath().normalize().toUri();
    }

    /** {@code --output F.jsonl}: the single local file of the first batch command; anything else is a directory of part files. */
    static boolean singleFile(String output) { return output.endsWith(".jsonl"); }

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
