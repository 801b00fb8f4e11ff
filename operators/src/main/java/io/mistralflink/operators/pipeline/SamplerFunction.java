package io.mistralflink.operators.pipeline;

import io.mistralflink.operators.feedback.FeedbackBroker;
import io.mistralflink.operators.feedback.FeedbackChannel;
import io.mistralflink.operators.feedback.FeedbackKey;
import io.mistralflink.operators.frame.MicroBatchFrame;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The tail: hands the tokens the last stage drew back to the colocated scheduler through the in-JVM
 * feedback channel (a frame from the last stage carries a row per sampling sequence).
 */
public final class SamplerFunction extends ProcessFunction<MicroBatchFrame, Void> {
    static final String EDGE = "sampled-tokens";

    private transient FeedbackKey key;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SamplerFunction.class);

    private transient FeedbackChannel<TokenBatch> channel;
    private transient boolean dropping;

    @Override public void open(OpenContext ctx) {
        key = FeedbackKey.of(EDGE, getRuntimeContext());
        channel = FeedbackBroker.get(key);
    }

    @Override public void processElement(MicroBatchFrame f, Context ctx, Collector<Void> out) {
        FailureInjection.check(FailureInjection.Point.SAMPLER, "sampler");
        if (StepMeta.origin(f) != getRuntimeContext().getTaskInfo().getIndexOfThisSubtask())
            throw new IllegalStateException("step of scheduler " + StepMeta.origin(f) + " reached sampler "
                    + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        String[] ids = new String[f.rows()];
        int[] tokens = new int[f.rows()];
        double[] nll = new double[f.rows()];
        for (int r = 0; r < f.rows(); r++) {
            ids[r] = f.requestId(r);
            tokens[r] = f.token(r);
            nll[r] = f.hasFlag(r, MicroBatchFrame.FLAG_SCORE) ? StepMeta.nll(f, ids[r]) : Double.NaN;
        }
        if (!channel.offer(new TokenBatch(StepMeta.lane(f), StepMeta.step(f), ids, tokens, nll)) && !dropping) {
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
