package io.mistralflink.job.batch;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.api.common.serialization.BulkWriter;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.streaming.api.functions.sink.filesystem.PartFileInfo;
import org.apache.flink.streaming.api.functions.sink.filesystem.rollingpolicies.CheckpointRollingPolicy;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.PositionOutputStream;

import java.io.IOException;

/**
 * Parquet part files for Flink's {@code FileSink}: a {@link BulkWriter} per part over the part's
 * stream (snappy-compressed, the record schema given), and the rolling of bulk parts: at every
 * checkpoint, as a bulk format must, and when a part reaches its size.
 */
final class ParquetParts {
    private ParquetParts() {}

    static BulkWriter.Factory<GenericRecord> writer(Schema schema, long rowGroupBytes) {
        String json = schema.toString();   // Schema itself is not serializable in every Avro version: ship its JSON
        return out -> {
            ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(new StreamOutputFile(out))
                    .withSchema(new Schema.Parser().parse(json))
                    .withDataModel(GenericData.get())
                    .withCompressionCodec(CompressionCodecName.SNAPPY)
                    .withRowGroupSize(Math.min(rowGroupBytes, ParquetWriter.DEFAULT_BLOCK_SIZE))
                    .build();
            return new BulkWriter<>() {
                @Override public void addElement(GenericRecord r) throws IOException { w.write(r); }

                @Override public void flush() {}   // a row group is written whole, at its size or at the end

                @Override public void finish() throws IOException { w.close(); }   // the footer; the stream stays open for the sink
            };
        };
    }

    static <IN, B> CheckpointRollingPolicy<IN, B> rolling(long maxPartBytes) {
        return new CheckpointRollingPolicy<>() {
            @Override public boolean shouldRollOnEvent(PartFileInfo<B> part, IN element) throws IOException {
                return part.getSize() >= maxPartBytes;
            }

            @Override public boolean shouldRollOnProcessingTime(PartFileInfo<B> part, long now) { return false; }
        };
    }

    /** The part's stream as a Parquet output file; closing it leaves the stream to the sink, which commits it. */
    private record StreamOutputFile(FSDataOutputStream out) implements OutputFile {
        @Override public PositionOutputStream create(long blockSizeHint) {
            return new PositionOutputStream() {
                @Override public long getPos() throws IOException { return out.getPos(); }

                @Override public void write(int b) throws IOException { out.write(b); }

                @Override public void write(byte[] b, int off, int len) throws IOException { out.write(b, off, len); }

                @Override public void flush() throws IOException { out.flush(); }

                @Override public void close() throws IOException { out.flush(); }
            };
        }

        @Override public PositionOutputStream createOrOverwrite(long blockSizeHint) { return create(blockSizeHint); }

        @Override public boolean supportsBlockSize() { return false; }

        @Override public long defaultBlockSize() { return 0; }
    }
}
