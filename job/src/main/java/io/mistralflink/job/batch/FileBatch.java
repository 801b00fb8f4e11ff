package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.job.assembly.Jobs;
import io.mistralflink.job.assembly.LocalEnvironment;
import io.mistralflink.job.assembly.RetainedCheckpoints;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SimpleStringEncoder;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.RecoveryClaimMode;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.formats.avro.typeutils.GenericRecordAvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.filesystem.OutputFileConfig;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.BasePathBucketAssigner;
import org.apache.flink.streaming.api.functions.sink.filesystem.rollingpolicies.DefaultRollingPolicy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code batch --output DIR}: a bounded, checkpointed run from files to committed part files.
 *
 * <pre>
 * FileSource (a file or directory; JSONL, Avro, Parquet; a file a split) -> parse, validate (bad rows -> _rejected)
 *   -> keyBy id: first of each id (duplicates -> _rejected) -> the pipeline -> result rows -> FileSink (DIR/part-*)
 * </pre>
 *
 * <p>The input never passes through the client or the job graph: the source's enumerator lists the
 * files, its readers read them. Output part files are written by {@code FileSink} and committed when a
 * checkpoint completes (exactly-once: a part file is visible only once the checkpoint that covers it
 * is complete; at the end of input a final checkpoint commits the rest). Checkpoints go to a retained
 * directory ({@link RetainedCheckpoints}, per output); a start with the same {@code --checkpoint-dir}
 * and {@code --output} restores the latest complete one, so a run killed anywhere continues where its
 * state says, and a run that had finished restores into a finished job and answers nothing again.
 */
public final class FileBatch {
    public static final String REJECTED_DIR = "_rejected";

    public enum Format { JSONL, PARQUET }

    /**
     * @param readers         source readers (files are spread over them) and parsers
     * @param partBytes       a part file rolls over at this size
     * @param checkpointMs    how often part files are committed (and how much a killed run does again)
     */
    public record Options(String input, String output, Format format, int readers, long partBytes, long checkpointMs) {}

    private FileBatch() {}

    /** Adds the batch job to {@code env}. */
    public static void build(StreamExecutionEnvironment env, PipelineConfig config, Options o) {
        int r = config.parallelism();
        FileSource<BatchRow> files = FileSource.forBulkFileFormat(new BatchFileFormat(), new Path(o.input()))
                .setFileEnumerator(BatchFileFormat.Files::new).build();
        SingleOutputStreamOperator<InferenceRequest> prepared = env.fromSource(new BacklogUntilRead<>(files), WatermarkStrategy.noWatermarks(), "batch files")
                .uid("batch-files").setParallelism(o.readers())
                .process(new PrepareBatchRows(config.modelDir())).returns(TypeInformation.of(InferenceRequest.class))
                .name("parse-validate").uid("prepare-rows").setParallelism(o.readers());
        SingleOutputStreamOperator<InferenceRequest> firsts = prepared.keyBy(InferenceRequest::id)
                .process(new FirstOfEachId()).returns(TypeInformation.of(InferenceRequest.class))
                .name("first-of-each-id").uid("first-of-each-id").setParallelism(r);
        // Requests travel to the scheduler in full network buffers (flushed at the latest after INPUT_FLUSH_MS),
        // not one request per buffer as the pipeline's own edges flush them: with a buffer per request, the
        // few buffers of a channel hold a dozen requests, and a lane that frees its places waits for two
        // more hops (reader, first-of-each-id) to refill them one by one.
        prepared.setBufferTimeout(INPUT_FLUSH_MS);
        firsts.setBufferTimeout(INPUT_FLUSH_MS);
        DataStream<CompletionResult> results = Pipeline.build(firsts, config);
        Path out = new Path(o.output());
        if (o.format() == Format.PARQUET) {
            results.process(new BatchResults.Records()).returns(new GenericRecordAvroTypeInfo(BatchResults.SCHEMA))
                    .name("result-rows").uid("results").setParallelism(r)
                    .sinkTo(FileSink.forBulkFormat(out, ParquetParts.writer(BatchResults.SCHEMA, o.partBytes()))
                            .withRollingPolicy(ParquetParts.<GenericRecord, String>rolling(o.partBytes()))
                            .withBucketAssigner(new BasePathBucketAssigner<>())
                            .withOutputFileConfig(parts(".parquet")).build())
                    .name("part files").uid("results-sink").setParallelism(r);
        } else {
            results.process(new BatchResults.Lines()).returns(Types.STRING)
                    .name("result-lines").uid("results").setParallelism(r)
                    .sinkTo(lines(out, o.partBytes())).name("part files").uid("results-sink").setParallelism(r);
        }
        prepared.getSideOutput(PrepareBatchRows.REJECTED).union(firsts.getSideOutput(PrepareBatchRows.REJECTED))
                .sinkTo(lines(new Path(out, REJECTED_DIR), o.partBytes())).name("rejected rows").uid("rejected-sink").setParallelism(r);
    }

    /** The checkpoint interval once the input is read: the final checkpoint comes at most this long after the last answer. */
    static final long TAIL_CHECKPOINT_MS = 1000;

    /** How long a part-filled buffer of requests may wait before it goes to the next operator. */
    static final long INPUT_FLUSH_MS = 20;

    private static FileSink<String> lines(Path dir, long partBytes) {
        return FileSink.forRowFormat(dir, new SimpleStringEncoder<String>(StandardCharsets.UTF_8.name()))
                .withRollingPolicy(DefaultRollingPolicy.builder().withMaxPartSize(new MemorySize(partBytes))
                        .withRolloverInterval(Duration.ofMinutes(30)).withInactivityInterval(Duration.ofMinutes(5)).build())
                .withBucketAssigner(new BasePathBucketAssigner<>())
                .withOutputFileConfig(parts(".jsonl")).build();
    }

    private static OutputFileConfig parts(String suffix) {
        return OutputFileConfig.builder().withPartPrefix("part").withPartSuffix(suffix).build();
    }

    /**
     * Exactly-once checkpoints every {@code checkpointMs} while the input is read, then every
     * {@link #TAIL_CHECKPOINT_MS} ({@link BacklogUntilRead}), with the final checkpoint that commits the last part files.
     */
    static Configuration checkpointing(long checkpointMs) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(Math.min(checkpointMs, TAIL_CHECKPOINT_MS)));
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL_DURING_BACKLOG, Duration.ofMillis(checkpointMs));
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        conf.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, Duration.ofMillis(Math.min(checkpointMs / 2, 100)));
        conf.set(CheckpointingOptions.ENABLE_CHECKPOINTS_AFTER_TASKS_FINISH, true);
        // a checkpoint (a commit of part files) completes mid-run, not only once the backlog is admitted
        return LocalEnvironment.debloatBuffers(conf);
    }

    /**
     * The checkpoints of the run writing to {@code output}: its own directory under the root (a local
     * path or the URI of any Flink file system), named after the output.
     */
    static RetainedCheckpoints checkpoints(String root, String output) {
        String uri = new Path(output).makeQualified(fileSystem(output)).toString();
        String name = new Path(output).getName().replaceAll("[^A-Za-z0-9_.-]", "_");
        try {
            return new RetainedCheckpoints(root, "batch-" + (name.isEmpty() ? "out" : name) + "-" + String.format("%08x", uri.hashCode()));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--checkpoint-dir " + root + ": " + e.getMessage());
        }
    }

    /**
     * Written into the run's checkpoint directory before its first job starts: this run has started
     * here. Flink discards a finished job's checkpoints (and, restored in claim mode, the one it
     * resumed from), so committed part files with neither {@code _SUCCESS} nor a checkpoint, where
     * this mark is, are a finished run whose client died before it wrote {@code _SUCCESS}.
     */
    static final String STARTED = "_started";

    /**
     * @param checkpointRoot where the run's retained checkpoints go ({@code --checkpoint-dir}: a local path or any Flink file system's URI)
     * @param cluster        submit to the cluster of the surrounding Flink client instead of a local MiniCluster
     */
    public static int run(Options o, PipelineConfig config, String checkpointRoot, boolean cluster, boolean quiet,
                          PrintStream out, PrintStream err) {
        String output = o.output();
        requireInput(o.input());

        Path done = new Path(new Path(output), SUCCESS);
        JsonNode before = recorded(done);
        if (before != null) {
            err.println("batch: every row of this run was answered before (" + done + "); nothing to do");
            ObjectNode s = ((ObjectNode) before).put("already_done", true);
            out.println(s);
            return s.path("refused").asLong() == 0 ? 0 : EXIT_REFUSED;
        }
        Configuration conf = checkpointing(o.checkpointMs());
        RetainedCheckpoints retained = checkpoints(checkpointRoot, output);
        Optional<String> from = retained.configureResuming(conf);
        Path started = new Path(retained.location(), STARTED);
        if (from.isEmpty() && hasCommittedParts(new Path(output))) {
            if (!exists(started))
                throw new UsageException("--output " + output + " holds part files but " + retained + " no checkpoint to resume from "
                        + "(another run's output, or a --checkpoint-dir other than its own): choose a new --output, or empty this one");
            // the job finished (Flink discarded its checkpoints) and its client died before the mark
            err.println("batch: the run's job had finished (" + retained + " holds no checkpoint, " + output
                    + " its committed part files); marking it done from them, nothing answered again");
            return finish(BatchOutputCounts.of(new Path(output)), 0, output, done, out, err);
        }
        // resumed in claim mode: the checkpoint is the job's own from then on, discarded when the job finishes,
        // and the older ones of the killed job go now, so that a finished run leaves no checkpoint to resume from
        if (from.isPresent()) {
            conf.set(StateRecoveryOptions.RESTORE_MODE, RecoveryClaimMode.CLAIM);
            retained.discardAllBut(new Path(conf.get(StateRecoveryOptions.SAVEPOINT_PATH)));
        }
        record(started, Json.MAPPER.createObjectNode().put("output", output));
        err.println("batch: checkpoints in " + retained + from.map(p -> "; resuming from " + p).orElse(""));
        StreamExecutionEnvironment env;
        java.nio.file.Path work = null;
        if (cluster) {
            env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.setBufferTimeout(config.bufferTimeoutMs());
        } else {
            if (retained.local()) work = retained.localWorkingFiles(conf);
            // readers beyond the pipeline's parallelism need slots of their own in the scheduler's group
            conf.set(TaskManagerOptions.NUM_TASK_SLOTS, Pipeline.slots(config) + Math.max(0, o.readers() - config.parallelism()));
            env = LocalEnvironment.localEnvironment(config, conf);
        }
        build(env, config, o);
        long start = System.nanoTime();
        JobExecutionResult result;
        try {
            JobClient job = env.executeAsync("mistral-flink batch");
            result = await(job, err, quiet, start);
        } catch (Exception e) {
            throw new IllegalStateException("batch run failed: " + Jobs.rootMessage(e) + " (start it again with the same --output and "
                    + "--checkpoint-dir to resume)", e);
        } finally {
            if (work != null) EmbeddedKafka.deleteTree(work);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        Map<String, Object> acc = result.getAllAccumulatorResults();
        long rejected = count(acc, PrepareBatchRows.REJECTED_ROWS) + count(acc, FirstOfEachId.DUPLICATES);
        return finish(new BatchOutputCounts(count(acc, PrepareBatchRows.ROWS), count(acc, BatchResults.ANSWERED),
                count(acc, BatchResults.REFUSED) + rejected, count(acc, BatchResults.TOKENS), rejected), seconds, output, done, out, err);
    }

    /** The end of a run: its rejected rows on stderr, its summary into {@code _SUCCESS} and on stdout, its exit code. */
    private static int finish(BatchOutputCounts c, double seconds, String output, Path done, PrintStream out, PrintStream err) {
        if (c.rejected() > 0) report(new Path(new Path(output), REJECTED_DIR), err);
        ObjectNode s = Json.MAPPER.createObjectNode();
        s.put("requests", c.requests());
        s.put("answered", c.answered());
        s.put("refused", c.refused());
        s.put("tokens", c.tokens());
        s.put("seconds", Math.round(seconds * 1000) / 1000.0);
        s.put("output", output);
        record(done, s);
        out.println(s);
        return c.refused() == 0 ? 0 : EXIT_REFUSED;
    }

    /**
     * The mark of a finished run, in its output directory ({@code _SUCCESS}, as Hadoop and Spark jobs
     * leave one; readers of the directory skip {@code _} files): its summary. Flink discards the
     * checkpoints of a finished job, so this is what says, at a second start, that all is done.
     */
    public static final String SUCCESS = "_SUCCESS";

    private static void record(Path file, ObjectNode json) {
        try (var o = file.getFileSystem().create(file, FileSystem.WriteMode.OVERWRITE)) {
            o.write((json + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(file + " cannot be written: " + e.getMessage(), e);
        }
    }

    private static boolean exists(Path p) {
        try {
            return p.getFileSystem().exists(p);
        } catch (IOException e) {
            throw new UsageException(p + " cannot be read (" + e.getMessage() + ")");
        }
    }

    private static JsonNode recorded(Path done) {
        try {
            FileSystem fs = done.getFileSystem();
            if (!fs.exists(done)) return null;
            try (var in = fs.open(done)) {
                return Json.MAPPER.readTree(in);
            }
        } catch (IOException e) {
            throw new UsageException("--output: " + done + " cannot be read (" + e.getMessage() + ")");
        }
    }

    /** Whether a directory holds committed part files (visible ones: in-progress and pending parts are hidden). */
    private static boolean hasCommittedParts(Path dir) {
        try {
            return BatchOutputCounts.parts(dir.getFileSystem(), dir).length > 0;
        } catch (IOException e) {
            throw new UsageException("--output " + dir + " cannot be listed (" + e.getMessage() + ")");
        }
    }

    /** Exit code of a run that finished with rows it could not answer (rejected, or refused by the scheduler). */
    static final int EXIT_REFUSED = 3;

    private static long count(Map<String, Object> acc, String name) {
        return acc.get(name) instanceof Number n ? n.longValue() : 0;
    }

    private static FileSystem fileSystem(String path) {
        try {
            return new Path(path).getFileSystem();
        } catch (IOException e) {
            throw new UsageException(path + ": no file system for it (" + e.getMessage() + ")");
        }
    }

    private static void requireInput(String input) {
        try {
            if (!fileSystem(input).exists(new Path(input))) throw new UsageException("--input " + input + ": no such file or directory");
        } catch (IOException e) {
            throw new UsageException("--input " + input + ": cannot be read (" + e.getMessage() + ")");
        }
    }

    /** Waits for the job, a progress line on stderr every two seconds (rows read, answered, tokens/s). */
    private static JobExecutionResult await(JobClient job, PrintStream err, boolean quiet, long start) throws Exception {
        CompletableFuture<JobExecutionResult> done = job.getJobExecutionResult();
        while (!quiet) {
            try {
                JobExecutionResult r = done.get(2, TimeUnit.SECONDS);
                err.println();
                return r;
            } catch (java.util.concurrent.TimeoutException e) {
                try {
                    Map<String, Object> acc = job.getAccumulators().get(2, TimeUnit.SECONDS);
                    double s = (System.nanoTime() - start) / 1e9;
                    err.printf("\rbatch: %d rows read, %d answered, %.0f tokens/s", count(acc, PrepareBatchRows.ROWS),
                            count(acc, BatchResults.ANSWERED), count(acc, BatchResults.TOKENS) / Math.max(1e-9, s));
                } catch (Exception ignored) {
                    // progress is best effort
                }
            }
        }
        return done.get();
    }

    /** The rejected rows, one line each on stderr as {@code FILE: line N: reason} (the first 100; all are in the directory). */
    static void report(Path dir, PrintStream err) {
        int shown = 0, limit = 100;
        long total = 0;
        try {
            FileSystem fs = dir.getFileSystem();
            FileStatus[] parts = fs.exists(dir) ? fs.listStatus(dir) : new FileStatus[0];
            for (FileStatus p : parts) {
                String name = p.getPath().getName();
                if (p.isDir() || name.startsWith(".") || name.startsWith("_")) continue;
                try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(p.getPath()), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        total++;
                        if (shown++ >= limit) continue;
                        JsonNode j = Json.MAPPER.readTree(line);
                        BatchRow where = BatchRow.unreadable(j.path("file").asText(), j.path("row").asLong(), null);
                        err.println(where.where() + ": " + j.path("error").asText());
                    }
                }
            }
        } catch (IOException e) {
            err.println("batch: cannot read the rejected rows in " + dir + " (" + e.getMessage() + ")");
            return;
        }
        if (total > limit) err.println("... " + (total - limit) + " more rejected rows in " + dir);
        else if (total > 0) err.println(total + " rows rejected: see " + dir);
    }
}
