package io.mistralflink.operators.feedback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

/**
 * A toy pipeline with the real loop shape: head -> keyed stage -> tail, and the tail feeding each
 * step back to the colocated head through the broker until a request has run {@link #STEPS} steps.
 * Records are (origin head subtask, request, step).
 */
class FeedbackMiniClusterTest {
    static final int STEPS = 5;
    static final String EDGE = "sampled-tokens";
    static final TypeInformation<Tuple3<Integer, Integer, Integer>> STEP = Types.TUPLE(Types.INT, Types.INT, Types.INT);

    /** The scheduler's part: admit requests, re-send each request's next step when its feedback arrives. */
    static final class Head extends AbstractStreamOperator<Tuple3<Integer, Integer, Integer>>
            implements OneInputStreamOperator<Integer, Tuple3<Integer, Integer, Integer>>, BoundedOneInput {
        private final MailboxExecutor mailbox;
        private transient FeedbackKey key;
        private transient FeedbackChannel<Tuple3<Integer, Integer, Integer>> channel;
        private int outstanding;

        Head(StreamOperatorParameters<Tuple3<Integer, Integer, Integer>> parameters) {
            super(parameters);
            this.mailbox = parameters.getMailboxExecutor();
        }

        @Override
        public void open() throws Exception {
            super.open();
            key = FeedbackKey.of(EDGE, getRuntimeContext());
            channel = FeedbackBroker.get(key);
            channel.register(() -> mailbox.execute(() -> channel.drainTo(this::onFeedback), "feedback"));
        }

        @Override
        public void processElement(StreamRecord<Integer> request) {
            outstanding++;
            output.collect(new StreamRecord<>(Tuple3.of(getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(), request.getValue(), 0)));
        }

        private void onFeedback(Tuple3<Integer, Integer, Integer> step) {
            if (step.f2 + 1 < STEPS) {
                output.collect(new StreamRecord<>(Tuple3.of(step.f0, step.f1, step.f2 + 1)));
            } else {
                outstanding--;
            }
        }

        /** Bounded input ends long before generation does: keep serving feedback mails until all are done. */
        @Override
        public void endInput() throws Exception { while (outstanding > 0) mailbox.yield(); }

        @Override
        public void close() throws Exception {
            if (key != null) FeedbackBroker.remove(key);
            super.close();
        }
    }

    static final class HeadFactory extends AbstractStreamOperatorFactory<Tuple3<Integer, Integer, Integer>>
            implements OneInputStreamOperatorFactory<Integer, Tuple3<Integer, Integer, Integer>> {
        @Override
        @SuppressWarnings("unchecked")
        public <T extends StreamOperator<Tuple3<Integer, Integer, Integer>>> T createStreamOperator(
                StreamOperatorParameters<Tuple3<Integer, Integer, Integer>> parameters) {
            return (T) new Head(parameters);
        }

        @Override
        public Class<? extends StreamOperator<?>> getStreamOperatorClass(ClassLoader classLoader) { return Head.class; }
    }

    /** The sampler's part: hand every step back; emit the finished ones. */
    static final class Tail extends ProcessFunction<Tuple3<Integer, Integer, Integer>, Tuple3<Integer, Integer, Integer>> {
        private transient FeedbackKey key;
        private transient FeedbackChannel<Tuple3<Integer, Integer, Integer>> channel;

        @Override
        public void open(OpenContext openContext) {
            key = FeedbackKey.of(EDGE, getRuntimeContext());
            channel = FeedbackBroker.get(key);
        }

        @Override
        public void processElement(Tuple3<Integer, Integer, Integer> step, Context ctx, Collector<Tuple3<Integer, Integer, Integer>> out) {
            if (step.f0 != getRuntimeContext().getTaskInfo().getIndexOfThisSubtask()) throw new IllegalStateException("misrouted " + step);
            if (!channel.offer(step)) throw new IllegalStateException("head gone before " + step);
            if (step.f2 == STEPS - 1) out.collect(step);
        }

        @Override
        public void close() { if (key != null) FeedbackBroker.remove(key); }
    }

    @Test
    void stepsLoopThroughTheBrokerUntilDone() throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf);
        env.setBufferTimeout(0); // per-step latency: flush each record
        int requests = 40;
        SingleOutputStreamOperator<Tuple3<Integer, Integer, Integer>> head = env
                .fromData(IntStream.range(0, requests).boxed().toList(), Types.INT)
                .rebalance()
                .transform("head", STEP, new HeadFactory());
        DataStream<Tuple3<Integer, Integer, Integer>> stage = head
                .keyBy(t -> t.f1)
                .map(t -> t)
                .returns(STEP);
        // The tail must see each step on the subtask of the head that sent it.
        SingleOutputStreamOperator<Tuple3<Integer, Integer, Integer>> tail = stage
                .partitionCustom((Integer origin, int n) -> origin, t -> t.f0)
                .process(new Tail())
                .returns(STEP);
        FeedbackEdge.colocate("loop", head, tail);
        assertEquals("loop", tail.getTransformation().getCoLocationGroupKey());

        List<Tuple3<Integer, Integer, Integer>> done = new ArrayList<>();
        try (CloseableIterator<Tuple3<Integer, Integer, Integer>> it = tail.executeAndCollect("feedback-loop")) {
            it.forEachRemaining(done::add);
        }
        assertEquals(IntStream.range(0, requests).boxed().toList(), done.stream().map(t -> t.f1).sorted().toList());
        done.forEach(t -> assertEquals(STEPS - 1, t.f2));
        assertEquals(0, FeedbackBroker.size(), "channels left open");
    }

    @Test
    void colocateRejectsUnequalParallelism() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, new Configuration());
        SingleOutputStreamOperator<Integer> a = env.fromData(1, 2).map(x -> x).setParallelism(2);
        SingleOutputStreamOperator<Integer> b = a.map(x -> x).setParallelism(1);
        assertThrows(IllegalArgumentException.class, () -> FeedbackEdge.colocate("g", a, b));
    }
}
