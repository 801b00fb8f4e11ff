package io.mistralflink.job.assembly;

import io.mistralflink.job.kafka.DecodeRequests;
import io.mistralflink.job.kafka.KafkaIo;
import io.mistralflink.job.kafka.PrepareRequests;
import io.mistralflink.job.kafka.RawRecord;
import io.mistralflink.job.kafka.ReadOffsets;
import io.mistralflink.job.kafka.RequestValidator;
import io.mistralflink.operators.pipeline.AdmissionGate;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.FailureInjection;
import io.mistralflink.operators.pipeline.FailureLog;
import io.mistralflink.operators.pipeline.Original;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.Timings;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The Kafka job: prompts topic (raw records, read_committed) -> decode, validate, render chat
 * messages, check the context ({@link PrepareRequests}; bad records to dead letters) -> the
 * pipeline ({@link Pipeline#build}) -> completions (Avro {@link Completion}, key = request id) to
 * the completions topic, refusals of the scheduler (e.g. a duplicate id in flight) and every bad
 * record as {@link DeadLetter}s to the dead-letter topic. Both sinks are transactional
 * (exactly-once), committed on checkpoints.
 *
 * <p>Operator uids are stable ({@code prompts-source}, {@code prepare-requests}, the pipeline's,
 * {@code results}, {@code completions-sink}, {@code dead-letters-sink}), so a savepoint restores into
 * another number of lanes or replicas.
 */
public final class KafkaJob {
    static final OutputTag<DeadLetter> REFUSALS = new OutputTag<>("refusals", new AvroTypeInfo<>(DeadLetter.class));

    /**
     * @param groupId          the source's consumer group (offsets committed on checkpoints, for monitoring)
     * @param modelId          written into every completion
     * @param maxNewTokensLimit requests asking for more are dead-lettered
     * @param untilLatest      read up to the prompts' latest offsets at start, answer them and finish (a scheduled batch run)
     */
    public record Options(String groupId, String modelId, int maxNewTokensLimit, boolean untilLatest) {
        public static Options defaults(PipelineConfig config) {
            return new Options("mistral-flink", Path.of(config.modelDir()).getFileName().toString(), RequestValidator.DEFAULT_MAX_NEW_TOKENS_LIMIT, false);
        }

        public Options untilLatest(boolean b) { return new Options(groupId, modelId, maxNewTokensLimit, b); }
    }

    private KafkaJob() {}

    /** Adds the job to {@code env}; {@link #configuration} gives the checkpointing it needs. */
    public static void build(StreamExecutionEnvironment env, KafkaIo io, PipelineConfig config, Options options) {
        int r = config.parallelism();
        // the source reads while the schedulers have room to wait in: the backlog stays in Kafka, and
        // nothing holds a checkpoint barrier on its way
        AdmissionGate gate = AdmissionGate.create(config);
        DataStream<RawRecord> raw = env.fromSource(gate.throttle(io.promptSource(options.groupId(), options.untilLatest())), WatermarkStrategy.noWatermarks(), "prompts")
                .uid("prompts-source").setParallelism(r);
        SingleOutputStreamOperator<InferenceRequest> requests = raw
                .process(new PrepareRequests(config.modelDir(), new RequestValidator(options.maxNewTokensLimit())))
                .returns(TypeInformation.of(InferenceRequest.class))
                .name("decode-validate-prepare").uid("prepare-requests").setParallelism(r);
        SingleOutputStreamOperator<Completion> completions = Pipeline.build(requests, config, gate)
                .process(new ToWire(options.modelId()))
                .returns(new AvroTypeInfo<>(Completion.class))
                .name("results").uid("results").setParallelism(r)
                // not chained to the scheduler: the transactional sink's flush, commit and new
                // transaction at every checkpoint must not stall the thread that drives the lanes
                .startNewChain();
        completions.sinkTo(io.completionSink()).name("completions").uid("completions-sink").setParallelism(r);
        requests.getSideOutput(DecodeRequests.DEAD_LETTERS).union(completions.getSideOutput(REFUSALS))
                .sinkTo(io.deadLetterSink()).name("dead-letters").uid("dead-letters-sink").setParallelism(r);
    }

    /**
     * After a bounded run ({@link Options#untilLatest}) finished: commits its group's offsets past what it
     * read ({@link ReadOffsets}), so that the next run starts where this one ended. The source commits
     * them too, at the final checkpoint, but asynchronously from its fetcher thread, which the end of
     * the job may close first: under load a next run then answered all of them again.
     */
    public static void commitAnswered(JobExecutionResult result, KafkaIo io, Options options) throws Exception {
        if (!options.untilLatest()) return;
        Map<Integer, Long> read = result.getAccumulatorResult(ReadOffsets.NAME);
        if (read != null) io.commitAnswered(options.groupId(), read);
    }

    /**
     * Flink settings of the job: exactly-once checkpoints every {@code checkpointIntervalMs} (also the
     * cadence at which read_committed consumers see results), and a savepoint to start from, if any.
     */
    public static Configuration configuration(long checkpointIntervalMs, String savepoint) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(checkpointIntervalMs));
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        conf.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, Duration.ofMillis(Math.min(checkpointIntervalMs / 2, 100)));
        LocalEnvironment.debloatBuffers(conf);
        if (savepoint != null) {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
            // a savepoint of more stages restores into fewer: stage state holds only cache handles
            // (caches are re-derived from the scheduler's tokens), so unclaimed stage state is dropped
            conf.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        }
        return conf;
    }

    /** {@link #configuration} with restarts for a job meant to run for days: keep trying, a few seconds apart. */
    public static Configuration restarting(long checkpointIntervalMs, String savepoint) {
        Configuration conf = configuration(checkpointIntervalMs, savepoint);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, Integer.MAX_VALUE);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(2));
        return conf;
    }

    /** Completions to Avro; refusals to the {@link #REFUSALS} side output. */
    static final class ToWire extends ProcessFunction<CompletionResult, Completion> {
        private static final long serialVersionUID = 1L;
        private final String modelId;

        private transient FailureLog failures;

        ToWire(String modelId) { this.modelId = modelId; }

        @Override public void open(OpenContext ctx) { failures = FailureLog.of(getRuntimeContext()); }

        /**
         * A result that cannot be converted fails the job; its request is noted first (see {@link
         * FailureLog}). Not so a failure of the sink it is handed to: the sink's errors surface at a
         * later record, or at a commit, and name no culprit.
         */
        @Override public void processElement(CompletionResult c, Context ctx, Collector<Completion> out) {
            Object wire;
            try {
                wire = wire(c);
            } catch (Throwable t) {
                if (failures != null) failures.record(List.of(c.id()), t);
                throw t;
            }
            if (wire instanceof DeadLetter d) ctx.output(REFUSALS, d);
            else out.collect((Completion) wire);
        }

        /** A {@link Completion}, or a refusal's {@link DeadLetter}. */
        private Object wire(CompletionResult c) {
            Map<String, String> md = c.metadata() == null ? Map.of() : c.metadata();
            if (c.refused()) {
                String partition = md.get("mistral-flink.partition"), offset = md.get("mistral-flink.offset");
                String length = md.get(Original.LENGTH);
                return DeadLetter.newBuilder()
                        .setRequestId(c.id())
                        .setReason("refused: " + c.error())
                        .setOriginal(ByteBuffer.wrap(c.source() == null ? new byte[0] : c.source()))
                        .setOriginalLength(length == null ? null : Long.valueOf(length)) // cut in the scheduler's state
                        .setOriginalSha256(md.get(Original.SHA256))
                        .setTopic(md.get("mistral-flink.topic"))
                        .setPartition(partition == null ? null : Integer.valueOf(partition))
                        .setOffset(offset == null ? null : Long.valueOf(offset))
                        .build();
            }
            FailureInjection.checkPoison(FailureInjection.Point.RESULTS, c.id(), "the results");
            return Completion.newBuilder()
                    .setRequestId(c.id())
                    .setText(c.text())
                    .setCompletionIds(Arrays.stream(c.completionIds()).boxed().toList())
                    .setFinishReason(c.finishReason())
                    .setPromptTokens(c.promptTokens())
                    .setCompletionTokens(c.completionIds().length)
                    .setTimings(new Timings(c.queuedMs(), c.prefillMs(), c.decodeMs()))
                    .setModel(modelId)
                    .setMetadata(PrepareRequests.callerMetadata(md))
                    .build();
        }
    }
}
