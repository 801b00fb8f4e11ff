package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.kafka.PrepareRequests;
import io.mistralflink.job.kafka.RawRecord;
import io.mistralflink.job.kafka.RequestValidator;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.schemas.DeadLetter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * Batch rows -> pipeline requests: a JSONL line or Parquet row parsed and validated as
 * {@link BatchInput#parse} does, an Avro record prepared as the Kafka job prepares it
 * ({@link PrepareRequests}). A row it cannot accept goes to {@link #REJECTED} as one JSON line that
 * names its file and row and the reason; nothing here throws for bad input. Where a request came from
 * travels in its metadata ({@link #FILE}, {@link #ROW}, reserved keys stripped before output), so that
 * a later refusal can name it too.
 */
final class PrepareBatchRows extends ProcessFunction<BatchRow, InferenceRequest> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    static final OutputTag<String> REJECTED = new OutputTag<>("rejected", Types.STRING);
    static final String FILE = PrepareRequests.RESERVED + "file", ROW = PrepareRequests.RESERVED + "row";
    static final String ROWS = "batch.rows", REJECTED_ROWS = "batch.rejected";

    private final String modelDir;
    private final RestoredCounters counts = new RestoredCounters("batch-rows", ROWS, REJECTED_ROWS);
    private transient PrepareRequests avro;

    PrepareBatchRows(String modelDir) { this.modelDir = modelDir; }

    @Override public void initializeState(FunctionInitializationContext ctx) throws Exception { counts.initialize(ctx); }

    @Override public void snapshotState(FunctionSnapshotContext ctx) throws Exception { counts.snapshot(); }

    @Override public void open(OpenContext ctx) { counts.open(getRuntimeContext()); }

    @Override public void processElement(BatchRow row, Context ctx, Collector<InferenceRequest> out) {
        counts.add(0, 1);
        String error;
        if (row.error != null) error = row.error;
        else if (row.avro != null) {
            Object o = avro().prepare(new RawRecord(row.file, 0, row.row, -1, null, row.avro));
            if (o instanceof InferenceRequest r) {
                out.collect(from(row, r));
                return;
            }
            error = ((DeadLetter) o).getReason();
        } else {
            try {
                out.collect(from(row, BatchInput.parse(Json.MAPPER.readTree(row.line))));
                return;
            } catch (IOException | IllegalArgumentException e) {
                error = BatchFileFormat.firstLine(e);
            }
        }
        counts.add(1, 1);
        ctx.output(REJECTED, rejected(row.file, row.row, null, error));
    }

    /** The request as the pipeline takes it: the caller's metadata and where the row is; no copy of its bytes. */
    private static InferenceRequest from(BatchRow row, InferenceRequest r) {
        Map<String, String> m = new HashMap<>(PrepareRequests.callerMetadata(r.metadata()));
        m.put(FILE, row.file);
        m.put(ROW, Long.toString(row.row));
        return new InferenceRequest(r.id(), r.prompt(), r.params(), m, r.receivedMillis(), r.promptIds());
    }

    /** The report of a rejected row: {"file", "row", "request_id"?, "error"}. */
    static String rejected(String file, long row, String requestId, String error) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("file", file);
        o.put("row", row);
        if (requestId != null) o.put("request_id", requestId);
        o.put("error", error);
        return o.toString();
    }

    private PrepareRequests avro() {
        if (avro == null) avro = PrepareRequests.local(modelDir, new RequestValidator());   // only a job with Avro input loads the tokenizer here
        return avro;
    }

    @Override public void close() {
        if (avro != null) avro.close();
    }
}
