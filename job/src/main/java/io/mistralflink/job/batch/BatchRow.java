package io.mistralflink.job.batch;

/**
 * One row of a batch input file as read, before it is parsed: where it is (file and row, for the report
 * of a bad one) and what it holds. A Flink POJO.
 *
 * <p>{@code line} is a batch line (JSONL; a Parquet row is turned into the same JSON object), {@code avro}
 * a {@code GenerationRequest} in the Kafka wire encoding; {@code error}, when set, says why the row (or,
 * row 0, the whole file) could not be read at all.
 */
public class BatchRow {
    public String file;
    /** 1-based: the line of a JSONL file, the record of an Avro container, the row of a Parquet file; 0 for the file itself. */
    public long row;
    public String line;
    public byte[] avro;
    public String error;

    public BatchRow() {}

    static BatchRow line(String file, long row, String line) {
        BatchRow r = new BatchRow();
        r.file = file;
        r.row = row;
        r.line = line;
        return r;
    }

    static BatchRow avro(String file, long row, byte[] avro) {
        BatchRow r = line(file, row, null);
        r.avro = avro;
        return r;
    }

    static BatchRow unreadable(String file, long row, String error) {
        BatchRow r = line(file, row, null);
        r.error = error;
        return r;
    }

    /** How a bad row is named in reports: {@code FILE: line N}, {@code record N}, {@code row N}. */
    String where() {
        String unit = file.endsWith(".avro") ? "record" : BatchFileFormat.isParquet(file) ? "row" : "line";
        return row == 0 ? file : file + ": " + unit + " " + row;
    }
}
