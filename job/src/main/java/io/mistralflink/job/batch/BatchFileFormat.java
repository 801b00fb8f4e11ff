package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.WireCodec;
import org.apache.avro.file.DataFileStream;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.enumerate.NonSplittingRecursiveEnumerator;
import org.apache.flink.connector.file.src.impl.StreamFormatAdapter;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.src.reader.SimpleStreamFormat;
import org.apache.flink.connector.file.src.reader.StreamFormat;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.io.DelegatingSeekableInputStream;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.SeekableInputStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The batch's input files as a {@link BulkFormat} for Flink's {@code FileSource}: each file is a split
 * (read by one source reader, files spread over the readers), read by the format its name says:
 * JSONL ({@code .jsonl}, {@code .json}, {@code .ndjson}, optionally {@code .gz}/{@code .bz2}/{@code .xz}
 * compressed), an Avro object container of {@code GenerationRequest} records ({@code .avro}), or
 * Parquet ({@code .parquet}, the columns of the batch line). A file named on the command line is JSONL
 * unless it ends in {@code .avro} or {@code .parquet}; in a directory, files of other names are skipped.
 *
 * <p>Each format is a {@link StreamFormat} that numbers its rows; Flink's {@link StreamFormatAdapter}
 * checkpoints a reader's position as the count of rows it emitted and, on restore, reads that many
 * again, so the row numbers of a restored reader continue where they were. A file that cannot be read
 * at all (not an Avro container, not Parquet) or breaks off becomes one unreadable row: reported,
 * never a failed job.
 */
public final class BatchFileFormat implements BulkFormat<BatchRow, FileSourceSplit> {
    private static final long serialVersionUID = 1L;
    private static final List<String> JSONL = List.of(".jsonl", ".json", ".ndjson"), COMPRESSED = List.of("", ".gz", ".gzip", ".bz2", ".xz", ".deflate");

    public static boolean isParquet(String name) { return name.toLowerCase(Locale.ROOT).endsWith(".parquet"); }

    static boolean isAvro(String name) { return name.toLowerCase(Locale.ROOT).endsWith(".avro"); }

    /** A file in an input directory that is a batch input by its name (hidden and {@code _} files are not). */
    static boolean isInput(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.startsWith(".") || n.startsWith("_")) return false;
        if (isParquet(n) || isAvro(n)) return true;
        for (String j : JSONL) for (String c : COMPRESSED) if (n.endsWith(j + c)) return true;
        return false;
    }

    /**
     * Input files, recursively, each one split: a file named on the command line, and every file of a
     * directory that {@link #isInput} names (hidden and {@code _} entries not entered); empty files skipped.
     */
    static final class Files extends NonSplittingRecursiveEnumerator {
        private final java.util.Set<String> named = new java.util.HashSet<>();

        Files() { super(p -> !p.getName().startsWith(".") && !p.getName().startsWith("_")); }

        @Override public java.util.Collection<FileSourceSplit> enumerateSplits(Path[] paths, int minDesiredSplits) throws IOException {
            for (Path p : paths) named.add(p.toUri().getPath());
            return super.enumerateSplits(paths, minDesiredSplits);
        }

        @Override protected void convertToSourceSplits(FileStatus file, FileSystem fs, List<FileSourceSplit> target) throws IOException {
            Path p = file.getPath();
            if (file.getLen() > 0 && (named.contains(p.toUri().getPath()) || isInput(p.getName()))) super.convertToSourceSplits(file, fs, target);
        }
    }

    private static StreamFormatAdapter<BatchRow> formatOf(Path path) {
        String file = "file".equals(path.toUri().getScheme()) ? path.toUri().getPath() : path.toString();   // local files as the user named them
        return new StreamFormatAdapter<>(isAvro(file) ? new AvroRequests(file) : isParquet(file) ? new ParquetRows(file) : new JsonLines(file));
    }

    @Override public Reader<BatchRow> createReader(Configuration config, FileSourceSplit split) throws IOException {
        return formatOf(split.path()).createReader(config, split);
    }

    @Override public Reader<BatchRow> restoreReader(Configuration config, FileSourceSplit split) throws IOException {
        return formatOf(split.path()).restoreReader(config, split);
    }

    @Override public boolean isSplittable() { return false; }

    @Override public TypeInformation<BatchRow> getProducedType() { return TypeInformation.of(BatchRow.class); }

    /** One file's rows; {@link #next} returns null at the end. */
    private abstract static class Rows implements StreamFormat.Reader<BatchRow> {
        final String file;
        long row;
        private boolean broken;

        Rows(String file) { this.file = file; }

        abstract BatchRow next() throws IOException;

        @Override public final BatchRow read() throws IOException {
            if (broken) return null;
            try {
                return next();
            } catch (IOException | RuntimeException e) {
                broken = true;   // the rest of the file cannot be trusted: report where it broke off, read no further
                return BatchRow.unreadable(file, row + 1, "unreadable from here on (" + firstLine(e) + ")");
            }
        }
    }

    static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        return m.lines().findFirst().orElse(e.getClass().getSimpleName());
    }

    /** A file that could not be opened as its format: one row 0 that says so. */
    private static StreamFormat.Reader<BatchRow> unreadable(String file, String why) {
        return new StreamFormat.Reader<>() {
            boolean told;

            @Override public BatchRow read() {
                if (told) return null;
                told = true;
                return BatchRow.unreadable(file, 0, why);
            }

            @Override public void close() {}
        };
    }

    /** JSONL: a row per line, numbered as lines (blank lines count, and are skipped). */
    static final class JsonLines extends SimpleStreamFormat<BatchRow> {
        private static final long serialVersionUID = 1L;
        private final String file;

        JsonLines(String file) { this.file = file; }

        @Override public StreamFormat.Reader<BatchRow> createReader(Configuration config, FSDataInputStream stream) {
            BufferedReader in = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8));
            return new Rows(file) {
                @Override BatchRow next() throws IOException {
                    for (String line; (line = in.readLine()) != null; ) {
                        row++;
                        if (!line.isBlank()) return BatchRow.line(file, row, line);
                    }
                    return null;
                }

                @Override public void close() throws IOException { in.close(); }
            };
        }

        @Override public TypeInformation<BatchRow> getProducedType() { return TypeInformation.of(BatchRow.class); }
    }

    /** An Avro object container of {@code GenerationRequest} records, each passed on in the Kafka wire encoding. */
    static final class AvroRequests extends SimpleStreamFormat<BatchRow> {
        private static final long serialVersionUID = 1L;
        private final String file;

        AvroRequests(String file) { this.file = file; }

        @Override public StreamFormat.Reader<BatchRow> createReader(Configuration config, FSDataInputStream stream) {
            DataFileStream<GenerationRequest> in;
            try {
                in = new DataFileStream<>(stream, new SpecificDatumReader<>(GenerationRequest.class));
            } catch (IOException | RuntimeException e) {
                return unreadable(file, "not an Avro container of GenerationRequest records (" + firstLine(e) + ")");
            }
            return new Rows(file) {
                @Override BatchRow next() throws IOException {
                    if (!in.hasNext()) return null;
                    GenerationRequest g = in.next();
                    return BatchRow.avro(file, ++row, WireCodec.encode(g));
                }

                @Override public void close() throws IOException { in.close(); }
            };
        }

        @Override public TypeInformation<BatchRow> getProducedType() { return TypeInformation.of(BatchRow.class); }
    }

    /**
     * Parquet: a row per record, its columns those of the batch line ({@code request_id}, {@code prompt},
     * {@code max_new_tokens}, ... {@code stop} a list of strings, {@code metadata} a map of strings), as
     * Arrow and pandas write them; a null column is an absent field. The row becomes the batch line's
     * JSON object, so it is validated exactly as a JSONL line is.
     */
    static final class ParquetRows implements StreamFormat<BatchRow> {
        private static final long serialVersionUID = 1L;
        private final String file;

        ParquetRows(String file) { this.file = file; }

        @Override public StreamFormat.Reader<BatchRow> createReader(Configuration config, FSDataInputStream stream, long fileLen, long splitEnd) {
            ParquetReader<GenericRecord> in;
            GenericRecord first;
            try {
                in = AvroParquetReader.<GenericRecord>builder(new StreamInputFile(stream, fileLen))
                        .withDataModel(GenericData.get())
                        .set("parquet.avro.add-list-element-records", "false")
                        .set("parquet.avro.readInt96AsFixed", "true")
                        .build();
                first = in.read();   // the footer is read here: a file that is not Parquet fails now, as a whole
            } catch (IOException | RuntimeException e) {
                return unreadable(file, "not a Parquet file (" + firstLine(e).replaceFirst("^.* is not a Parquet file\\. ", "") + ")");
            }
            return new Rows(file) {
                GenericRecord next = first;

                @Override BatchRow next() throws IOException {
                    GenericRecord r = row == 0 ? next : in.read();
                    next = null;
                    if (r == null) return null;
                    return BatchRow.line(file, ++row, json(r).toString());
                }

                @Override public void close() throws IOException { in.close(); }
            };
        }

        @Override public StreamFormat.Reader<BatchRow> restoreReader(Configuration config, FSDataInputStream stream, long restoredOffset,
                                                                     long fileLen, long splitEnd) {
            return createReader(config, stream, fileLen, splitEnd);   // positions are row counts: the adapter skips the rows read
        }

        @Override public boolean isSplittable() { return false; }

        @Override public TypeInformation<BatchRow> getProducedType() { return TypeInformation.of(BatchRow.class); }
    }

    /** A Parquet value as JSON: strings, numbers, booleans, lists, maps and records; nulls omitted from records. */
    static JsonNode json(Object v) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        return switch (v) {
            case null -> f.nullNode();
            case CharSequence s -> f.textNode(s.toString());
            case Integer i -> f.numberNode(i);
            case Long l -> f.numberNode(l);
            case Float x -> f.numberNode(x);
            case Double d -> f.numberNode(d);
            case Boolean b -> f.booleanNode(b);
            case ByteBuffer b -> f.textNode(StandardCharsets.UTF_8.decode(b.duplicate()).toString());
            case GenericRecord r -> {
                ObjectNode o = f.objectNode();
                for (var field : r.getSchema().getFields()) {
                    Object x = r.get(field.pos());
                    if (x != null) o.set(field.name(), json(x));
                }
                yield o;
            }
            case Map<?, ?> m -> {
                ObjectNode o = f.objectNode();
                m.forEach((k, x) -> o.set(k.toString(), json(x)));
                yield o;
            }
            case Iterable<?> it -> {
                ArrayNode a = f.arrayNode();
                it.forEach(x -> a.add(json(x)));
                yield a;
            }
            default -> f.textNode(v.toString());
        };
    }

    /** A Flink input stream as a Parquet file (the footer is read by seeking to its end). */
    record StreamInputFile(FSDataInputStream stream, long length) implements InputFile {
        @Override public long getLength() { return length; }

        @Override public SeekableInputStream newStream() {
            return new DelegatingSeekableInputStream(stream) {
                @Override public long getPos() throws IOException { return stream.getPos(); }

                @Override public void seek(long pos) throws IOException { stream.seek(pos); }
            };
        }
    }
}
