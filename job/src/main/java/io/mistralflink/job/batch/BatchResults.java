package io.mistralflink.job.batch;

import io.mistralflink.job.common.Json;
import io.mistralflink.job.kafka.PrepareRequests;
import io.mistralflink.operators.pipeline.CompletionResult;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import java.util.Arrays;

/**
 * Results of the pipeline as rows of the output files, counted (answered, refused, tokens) for the run's
 * summary: the batch's completion columns ({@link CompletionLine}) plus the timings
 * ({@code queued_ms}, {@code prefill_ms}, {@code decode_ms}); a refused request has only
 * {@code request_id} and {@code error}. {@link Lines}: one JSON line each; {@link Records}: Avro
 * records of {@link #SCHEMA} for Parquet, the same columns, nullable.
 */
abstract class BatchResults<T> extends ProcessFunction<CompletionResult, T> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    static final String ANSWERED = "batch.answered", REFUSED = "batch.refused", TOKENS = "batch.tokens";

    static final Schema SCHEMA = SchemaBuilder.record("BatchCompletion").namespace("io.mistralflink.batch").fields()
            .requiredString("request_id")
            .optionalString("text")
            .name("completion_ids").type().optional().array().items().intType()
            .optionalInt("prompt_tokens")
            .optionalInt("completion_tokens")
            .optionalString("finish_reason")
            .name("metadata").type().optional().map().values().stringType()
            .optionalLong("queued_ms")
            .optionalLong("prefill_ms")
            .optionalLong("decode_ms")
            .optionalString("error")
            .endRecord();

    private final RestoredCounters counts = new RestoredCounters("batch-results", ANSWERED, REFUSED, TOKENS);

    @Override public void initializeState(FunctionInitializationContext ctx) throws Exception { counts.initialize(ctx); }

    @Override public void snapshotState(FunctionSnapshotContext ctx) throws Exception { counts.snapshot(); }

    @Override public void open(OpenContext ctx) { counts.open(getRuntimeContext()); }

    @Override public void processElement(CompletionResult c, Context ctx, Collector<T> out) {
        counts.add(c.refused() ? 1 : 0, 1);
        counts.add(2, c.completionIds().length);
        out.collect(row(withCallerMetadata(c)));
    }

    abstract T row(CompletionResult c);

    private static CompletionResult withCallerMetadata(CompletionResult c) {
        return new CompletionResult(c.id(), c.text(), c.completionIds(), c.promptTokens(), c.finishReason(), c.queuedMs(), c.prefillMs(),
                c.decodeMs(), PrepareRequests.callerMetadata(c.metadata()), c.error(), null, c.nll());
    }

    static final class Lines extends BatchResults<String> {
        private static final long serialVersionUID = 1L;

        @Override String row(CompletionResult c) {
            return Json.line(CompletionLine.withTimings(c));
        }
    }

    static final class Records extends BatchResults<GenericRecord> {
        private static final long serialVersionUID = 1L;

        @Override GenericRecord row(CompletionResult c) {
            GenericData.Record r = new GenericData.Record(SCHEMA);
            r.put("request_id", c.id());
            if (c.refused()) {
                r.put("error", c.error());
                return r;
            }
            r.put("text", c.text());
            r.put("completion_ids", Arrays.stream(c.completionIds()).boxed().toList());
            r.put("prompt_tokens", c.promptTokens());
            r.put("completion_tokens", c.completionIds().length);
            r.put("finish_reason", c.finishReason());
            if (!c.metadata().isEmpty()) r.put("metadata", c.metadata());
            r.put("queued_ms", c.queuedMs());
            r.put("prefill_ms", c.prefillMs());
            r.put("decode_ms", c.decodeMs());
            return r;
        }
    }
}
