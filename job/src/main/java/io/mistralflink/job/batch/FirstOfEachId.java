package io.mistralflink.job.batch;

import io.mistralflink.operators.pipeline.InferenceRequest;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by request id: the first request of each id goes on, a later one of the same id is rejected
 * with its file and row (as a batch file's duplicate line always was). One flag per id in keyed state,
 * so a restored run still knows the ids it has seen.
 */
final class FirstOfEachId extends KeyedProcessFunction<String, InferenceRequest, InferenceRequest> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    static final String DUPLICATES = "batch.duplicates";
    private final RestoredCounters counts = new RestoredCounters("batch-duplicates", DUPLICATES);
    private transient ValueState<Boolean> seen;

    @Override public void initializeState(FunctionInitializationContext ctx) throws Exception { counts.initialize(ctx); }

    @Override public void snapshotState(FunctionSnapshotContext ctx) throws Exception { counts.snapshot(); }

    @Override public void open(OpenContext ctx) {
        counts.open(getRuntimeContext());
        seen = getRuntimeContext().getState(new ValueStateDescriptor<>("seen", Types.BOOLEAN));
    }

    @Override public void processElement(InferenceRequest r, Context ctx, Collector<InferenceRequest> out) throws Exception {
        if (seen.value() == null) {
            seen.update(true);
            out.collect(r);
            return;
        }
        counts.add(0, 1);
        String row = r.metadata().get(PrepareBatchRows.ROW);
        ctx.output(PrepareBatchRows.REJECTED, PrepareBatchRows.rejected(r.metadata().get(PrepareBatchRows.FILE),
                row == null ? 0 : Long.parseLong(row), r.id(), "duplicate request_id '" + r.id() + "'"));
    }
}
