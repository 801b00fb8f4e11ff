package io.mistralflink.operators.pipeline;

import io.mistralflink.operators.feedback.FeedbackBroker;
import io.mistralflink.operators.feedback.FeedbackChannel;
import io.mistralflink.operators.feedback.FeedbackKey;
import io.mistralflink.operators.frame.MicroBatchFrame;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The tail: hands the tokens the last stage drew (or the losses it scored) back to the colocated
 * scheduler through the in-JVM feedback channel. It samples nothing: the last stage does, so that
 * logits never travel.
 */
public final class TokenFeedbackFunction extends ProcessFunction<MicroBatchFrame, Void> {
    static final String EDGE = "sampled-tokens";

    private transient FeedbackKey key;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(TokenFeedbackFunction.class);

    private transient FeedbackChannel<TokenBatch> channel;
    private transient boolean dropping;
    private transient FailureLog failures;

    @Override public void open(OpenContext ctx) {
        key = FeedbackKey.of(EDGE, getRuntimeContext());
        channel = FeedbackBroker.get(key);
        failures = FailureLog.of(getRuntimeContext());
    }

    /** A step whose tokens cannot be handed back fails the job; its requests are noted first (see {@link FailureLog}). */
    @Override public void processElement(MicroBatchFrame f, Context ctx, Collector<Void> out) {
        try {
            handBack(f);
        } catch (Throwable t) {
            if (failures != null) failures.record(f.requestIds(), t);
            throw t;
        }
    }

    private void handBack(MicroBatchFrame f) {
        long taken = StepClock.now(); // the feedback hop starts here (StepClock.Phase.FEEDBACK)
        FailureInjection.check(FailureInjection.Point.FEEDBACK, "token feedback");
        FailureInjection.checkPoison(FailureInjection.Point.FEEDBACK, f, "token feedback");
        if (StepCodec.origin(f) != getRuntimeContext().getTaskInfo().getIndexOfThisSubtask())
            throw new IllegalStateException("step of scheduler " + StepCodec.origin(f) + " reached the feedback of "
                    + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        if (!channel.offer(StepCodec.answer(f, taken)) && !dropping) {
            // The channel closes only when its scheduler closes: the job is stopping (stop-with-savepoint,
            // whose snapshot holds the tokens that matter; a restore re-feeds every sequence) or failing
            // over. Steps still travelling the stages arrive here after that; their tokens are not needed.
            dropping = true;
            LOG.info("scheduler {} has closed: dropping the tokens of steps still in flight", key);
        }
    }

    @Override public void close() {
        if (key != null) FeedbackBroker.remove(key);
    }
}
