package io.mistralflink.job.cli;

import io.mistralflink.job.batch.BatchFileFormat;
import io.mistralflink.job.batch.BatchInput;
import io.mistralflink.job.batch.BoundedRun;
import io.mistralflink.job.batch.CompletionLine;
import io.mistralflink.job.batch.FileBatch;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.MemorySize;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * {@code batch}: a bounded run of the full pipeline. {@code --output F.jsonl}: requests read here, one
 * local JSONL file out, resumable from it ({@code --resume}); any other {@code --output}: a directory of
 * part files committed on checkpoints, the input read by Flink's file source ({@link FileBatch}).
 */
@Command(name = "batch", description = {
        "a bounded run of the full pipeline on a local MiniCluster.",
        "--output G.jsonl: the requests of F.jsonl|F.avro, one output line each; bad lines reported with their number and skipped; "
                + "--resume continues an interrupted run from its output.",
        "--output DIR: files to files at data-lake scale (JSONL, Avro, Parquet in; part files committed on checkpoints out; "
                + "started again with the same --output and --checkpoint-dir it resumes; docs/batch.md)"})
public final class BatchCommand extends CliCommand {
    @Option(names = "--input", paramLabel = "FILE|DIR", required = true, description = "requests: F.jsonl, F.avro, or (into a directory) files and directories of JSONL, Avro, Parquet")
    String input;

    @Option(names = "--output", paramLabel = "G.jsonl|DIR", required = true, description = "a JSONL file, or a directory of part files")
    String output;

    @Option(names = "--output-format", paramLabel = "jsonl|parquet", defaultValue = "jsonl", description = "part files' format (--output DIR)")
    String outputFormat;

    @Option(names = "--checkpoint-dir", paramLabel = "D", defaultValue = "checkpoints",
            description = "retained checkpoints, a local path or any Flink file system's URI (--output DIR)")
    String checkpointDir;

    @Option(names = "--checkpoint-interval-ms", paramLabel = "MS", defaultValue = "10000", description = "how often part files are committed (--output DIR)")
    long checkpointIntervalMs;

    @Option(names = "--part-size", paramLabel = "SIZE", defaultValue = "128mb", description = "a part file rolls over at this size (--output DIR)")
    String partSize;

    @Option(names = "--readers", paramLabel = "N", description = "file readers and parsers (--output DIR; default: --parallelism)")
    Integer readers;

    @Option(names = "--cluster", description = "submit to the cluster of the surrounding `flink run` (--output DIR)")
    boolean cluster;

    @Option(names = "--resume", description = "continue an interrupted run from its output (--output G.jsonl)")
    boolean resume;

    @Option(names = "--quiet", description = "no progress line")
    boolean quiet;

    @Mixin PipelineOptions pipeline;

    @Override public Integer call() {
        requireApart(input, output);
        PipelineConfig config = pipeline.config();
        if (!singleFile(output)) return FileBatch.run(fileOptions(config), config, checkpointDir, cluster, quiet, out, err);
        for (String o : List.of("--output-format", "--checkpoint-dir", "--checkpoint-interval-ms", "--part-size", "--readers"))
            if (given(o)) throw new UsageException(o + " is for an --output directory, not a single " + output);
        if (cluster) throw new UsageException("--cluster needs an --output directory (part files), not a local " + output);
        Path in = Path.of(input), to = Path.of(output);
        if (Files.isDirectory(in) || BatchFileFormat.isParquet(in.toString()))
            throw new UsageException("--input " + in + ": a directory or Parquet input is read into an --output directory (part files)");
        List<InferenceRequest> requests = in.toString().endsWith(".avro") ? BatchInput.readAvro(in, config.modelDir(), err) : BatchInput.read(in, err);
        if (requests.isEmpty()) throw new UsageException("--input " + in + ": no valid request");
        var o = BoundedRun.run("batch", config, requests, to, "requests", "request_id", CompletionLine::of,
                c -> c.completionIds().length, c -> {}, err, quiet, resume);
        return o.results() == o.requests() ? 0 : 1;
    }

    private FileBatch.Options fileOptions(PipelineConfig config) {
        FileBatch.Format format = switch (outputFormat.toLowerCase(Locale.ROOT)) {
            case "jsonl" -> FileBatch.Format.JSONL;
            case "parquet" -> FileBatch.Format.PARQUET;
            default -> throw new UsageException("--output-format " + outputFormat + ": jsonl or parquet");
        };
        if (resume) throw new UsageException("--resume is for a single --output F.jsonl; a run into a directory resumes from its checkpoints");
        if (checkpointIntervalMs < 10) throw new UsageException("--checkpoint-interval-ms must be >= 10");
        long partBytes;
        try {
            partBytes = MemorySize.parse(partSize).getBytes();
        } catch (IllegalArgumentException e) {
            throw new UsageException("--part-size " + partSize + ": a size such as 128mb or 64kb");
        }
        if (partBytes <= 0) throw new UsageException("--part-size must be positive");
        int n = readers == null ? config.parallelism() : readers;
        if (n < 1) throw new UsageException("--readers must be >= 1");
        return new FileBatch.Options(input, output, format, n, partBytes, checkpointIntervalMs);
    }

    /** An output that is the input, or lies inside an input directory, would overwrite it or be read back as requests. */
    static void requireApart(String input, String output) {
        URI in = location(input), o = location(output);
        String dir = in.getPath().endsWith("/") ? in.getPath() : in.getPath() + "/";
        if (o.equals(in) || (Objects.equals(o.getScheme(), in.getScheme()) && o.getPath().startsWith(dir)))
            throw new UsageException("--output " + output + " is the --input or inside it: write the results elsewhere");
    }

    private static URI location(String path) {
        return path.contains("://") ? URI.create(path).normalize() : Path.of(path).toAbsolutePath().normalize().toUri();
    }

    /** {@code --output F.jsonl}: the single local file of the first batch command; anything else is a directory of part files. */
    static boolean singleFile(String output) { return output.endsWith(".jsonl"); }
}
