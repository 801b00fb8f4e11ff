package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.common.Json;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * A batch run's counts, as its summary line gives them: rows read, answered, refused (rejected rows
 * and scheduler refusals), generated tokens; {@code rejected} is the part of {@code refused} that is in
 * {@code _rejected}.
 */
record BatchOutputCounts(long requests, long answered, long refused, long tokens, long rejected) {

    /**
     * The counts of a run that finished, from what it committed: every row read is a completion row
     * or a rejected row, each in exactly one committed part file. Used only where the run's own counts
     * (accumulators) were lost with its client, between the job's end and {@code _SUCCESS}.
     */
    static BatchOutputCounts of(Path output) {
        long answered = 0, refusedRows = 0, tokens = 0, rejected = 0;
        try {
            FileSystem fs = output.getFileSystem();
            for (FileStatus part : parts(fs, output)) {
                String name = part.getPath().getName();
                if (BatchFileFormat.isParquet(name)) {
                    try (FSDataInputStream in = fs.open(part.getPath());
                         ParquetReader<GenericRecord> r = AvroParquetReader.<GenericRecord>builder(
                                 new BatchFileFormat.StreamInputFile(in, part.getLen())).withDataModel(GenericData.get()).build()) {
                        for (GenericRecord g; (g = r.read()) != null; ) {
                            if (g.get("error") != null) refusedRows++;
                            else {
                                answered++;
                                tokens += g.get("completion_tokens") instanceof Number n ? n.longValue() : 0;
                            }
                        }
                    }
                } else {
                    for (String line : lines(fs, part)) {
                        JsonNode j = Json.MAPPER.readTree(line);
                        if (j.has("error")) refusedRows++;
                        else {
                            answered++;
                            tokens += j.path("completion_tokens").asLong();
                        }
                    }
                }
            }
            for (FileStatus part : parts(fs, new Path(output, FileBatch.REJECTED_DIR))) rejected += lines(fs, part).size();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot count the committed rows in " + output + ": " + e.getMessage(), e);
        }
        return new BatchOutputCounts(answered + refusedRows + rejected, answered, refusedRows + rejected, tokens, rejected);
    }

    /** Committed part files: in-progress and pending ones are hidden ({@code .part-*}), marks are {@code _} files. */
    static FileStatus[] parts(FileSystem fs, Path dir) throws IOException {
        if (!fs.exists(dir)) return new FileStatus[0];
        return java.util.Arrays.stream(fs.listStatus(dir)).filter(f -> !f.isDir() && f.getPath().getName().startsWith("part-")).toArray(FileStatus[]::new);
    }

    private static java.util.List<String> lines(FileSystem fs, FileStatus part) throws IOException {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(part.getPath()), StandardCharsets.UTF_8))) {
            return in.lines().filter(l -> !l.isBlank()).toList();
        }
    }
}
