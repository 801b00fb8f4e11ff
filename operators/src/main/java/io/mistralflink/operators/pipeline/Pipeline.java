package io.mistralflink.operators.pipeline;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.operators.feedback.FeedbackEdge;
import io.mistralflink.operators.frame.MicroBatchFrame;
import io.mistralflink.operators.frame.MicroBatchFrameTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.CoordinatedOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;

import java.nio.file.Path;

/**
 * Assembles the pipeline: scheduler (keyed by request) -> stage 0 .. P-1 (keyed by lane) -> sampler,
 * whose tokens loop back to the scheduler through the in-JVM feedback channel (scheduler and sampler
 * share a co-location group and a parallelism). Replica i of every operator serves the lanes of
 * scheduler i.
 */
public final class Pipeline {
    private Pipeline() {}

    /** Task slots a job needs: the scheduler's group plus one per stage, for each replica. */
    public static int slots(PipelineConfig config) {
        return config.parallelism() * (config.stages() == 1 ? 1 : config.stages() + 1);
    }

    /** Completions and refusals, from the scheduler. */
    public static DataStream<CompletionResult> build(DataStream<InferenceRequest> requests, PipelineConfig config) {
        return build(requests, config, null);
    }

    /**
     * The same, fed by a source that {@code gate} throttles ({@link AdmissionGate#throttle}): the
     * scheduler then never holds its input, and the backlog stays upstream of the source. The gate's
     * {@link AdmissionMeter} chains to what feeds the schedulers, in the source's task.
     */
    public static DataStream<CompletionResult> build(DataStream<InferenceRequest> requests, PipelineConfig config, AdmissionGate gate) {
        ModelConfig model = ModelConfig.load(Path.of(config.modelDir()));
        int[] split = config.boundaries(model);
        int r = config.parallelism();
        TypeInformation<MicroBatchFrame> frames = MicroBatchFrameTypeInfo.INSTANCE;
        if (gate != null)
            requests = requests.transform("admission meter", requests.getType(), new AdmissionMeter.Factory<>(gate))
                    .uid("admission-meter").setParallelism(requests.getParallelism());
        SingleOutputStreamOperator<MicroBatchFrame> head = requests
                .keyBy(InferenceRequest::id)
                .transform("scheduler", frames, gate == null ? new SchedulerFactory(config) : new GatedSchedulerFactory(config, gate))
                .uid("scheduler").setParallelism(r).slotSharingGroup("default");
        // Lane keys map to their scheduler's subtask (Scheduler.laneKey): every edge below is a forward
        // edge, re-read as keyed by lane without a shuffle.
        DataStream<MicroBatchFrame> steps = head;
        for (int s = 0; s < config.stages(); s++) {
            SingleOutputStreamOperator<MicroBatchFrame> stage = DataStreamUtils.reinterpretAsKeyedStream(steps, StepCodec::lane)
                    .process(new StageFunction(config, s), frames)
                    .name("stage " + s + " layers [" + split[s] + ", " + split[s + 1] + ")")
                    .uid("stage-" + s).setParallelism(r);
            // A single stage chains with the scheduler and sampler: one thread, no serialization, as the
            // engine alone. With several, each stage has its own slot group (a GPU, or a share of the cores).
            steps = config.stages() == 1 ? stage.slotSharingGroup("default") : stage.slotSharingGroup("stage-" + s);
        }
        SingleOutputStreamOperator<Void> tail = steps
                .process(new TokenFeedbackFunction(), TypeInformation.of(Void.class))
                .name("token feedback").uid("sampler").setParallelism(r)
                .slotSharingGroup("default"); // with the scheduler: the feedback channel is in-JVM
        tail.sinkTo(new DiscardingSink<>()).name("token-feedback-end").setParallelism(r).slotSharingGroup("default");
        FeedbackEdge.colocate("sampled-tokens", head, tail);
        return head.getSideOutput(Scheduler.COMPLETIONS);
    }

    static class SchedulerFactory extends AbstractStreamOperatorFactory<MicroBatchFrame>
            implements OneInputStreamOperatorFactory<InferenceRequest, MicroBatchFrame> {
        private final PipelineConfig config;

        SchedulerFactory(PipelineConfig config) { this.config = config; }

        AdmissionGate gate() { return null; }

        @Override @SuppressWarnings("unchecked")
        public <T extends StreamOperator<MicroBatchFrame>> T createStreamOperator(StreamOperatorParameters<MicroBatchFrame> parameters) {
            return (T) new Scheduler(config, gate(), parameters);
        }

        @Override public Class<? extends StreamOperator<?>> getStreamOperatorClass(ClassLoader classLoader) { return Scheduler.class; }
    }

    /** A scheduler behind a gate: its coordinator ({@link CountCoordinator}) keeps the gate's count of what its subtasks took in. */
    static final class GatedSchedulerFactory extends SchedulerFactory implements CoordinatedOperatorFactory<MicroBatchFrame> {
        private final AdmissionGate gate;

        GatedSchedulerFactory(PipelineConfig config, AdmissionGate gate) {
            super(config);
            this.gate = gate;
        }

        @Override AdmissionGate gate() { return gate; }

        @Override public OperatorCoordinator.Provider getCoordinatorProvider(String operatorName, OperatorID operatorID) {
            return new CountCoordinator.Provider(operatorID, gate, CountCoordinator.Side.TAKEN);
        }
    }
}
