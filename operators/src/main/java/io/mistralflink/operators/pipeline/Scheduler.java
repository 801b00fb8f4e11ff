package io.mistralflink.operators.pipeline;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.operators.feedback.FeedbackBroker;
import io.mistralflink.operators.feedback.FeedbackChannel;
import io.mistralflink.operators.feedback.FeedbackKey;
import io.mistralflink.operators.frame.MicroBatchFrame;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.runtime.operators.coordination.OperatorEventGateway;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The head of the pipeline, keyed by request id. Admits requests into lanes (continuous batching),
 * sends each lane's next step when its sampled tokens are back, and emits completions. Keyed state
 * holds each request's tokens; lanes are rebuilt from it after a restore, every sequence re-fed from
 * position 0 (caches are derived), and deterministic sampling makes the text come out the same.
 */
public final class Scheduler extends AbstractStreamOperator<MicroBatchFrame>
        implements OneInputStreamOperator<InferenceRequest, MicroBatchFrame>, BoundedOneInput {
    public static final OutputTag<CompletionResult> COMPLETIONS = new OutputTag<>("completions") {};
    /**
     * With one stage chained to the scheduler, a step runs inside the scheduler's own task, and between
     * two steps the mailbox reads one input record: requests arriving together would join a running lane
     * one per step. So when a request joins a lane at rest, or joined during the last step, and the lane
     * has room, the next step waits this long (a processing-time timer; input is read meanwhile), and
     * again while requests keep coming (up to {@link #ADMISSION_LINGERS} times), and takes everyone who
     * came. That matters where a step's cost hardly depends on its batch (a GPU); {@code
     * -Dmistralflink.admissionLingerMs=0} turns it off.
     */
    static final long ADMISSION_LINGER_MS = Long.getLong("mistralflink.admissionLingerMs", 1);
    /** How many lingers in a row a lane waits while requests keep joining it (bounds the first step's wait). */
    static final int ADMISSION_LINGERS = 8;
    /**
     * A lane's step leaves straight from the mail that brought the last one's tokens, except that one in
     * this many milliseconds leaves from a processing-time timer (see {@link #sendStepAfter}): a timer per
     * step costs two thread hops a step (timer thread, mailbox), and this bounds what a stop waits for.
     * A step longer than this leaves from a timer each time, whose hops are then a small share of it.
     */
    static final long TIMER_EVERY_MS = 50;
    /**
     * Requests that find every lane full wait in keyed state, this many per lane slot (L x S): the
     * {@link AdmissionGate} grants the source no more than the rooms have free (this subtask tells its
     * {@link CountCoordinator} how many it took out of its room). A checkpoint barrier is read only
     * between records: were a request that finds the lanes full held inside {@code processElement}, a
     * barrier (and a stop with a savepoint) would wait behind the requests queued in the network
     * buffers until sequences finish.
     */
    static final int WAITING_PER_SLOT = 4;
    /**
     * Behind a gate, beyond this many waiting per lane slot {@code processElement} holds its input
     * (backpressure), a bound that the gate's ledger keeps it from: what a gate holds out is at most a
     * room per scheduler subtask. An input without a gate (a bounded batch's) is held at {@link #WAITING_PER_SLOT}.
     */
    static final int HOLD_PER_SLOT = 64;

    private final PipelineConfig config;
    /**
     * Where this subtask counts what it took out of its waiting room: the {@link CountCoordinator} of
     * the gate of the source that feeds it; null without a gate (an input that only backpressure slows).
     */
    private final transient OperatorEventGateway ledger;
    /** Requests taken between two words to the {@link #ledger}. */
    private final int reportEvery;
    /**
     * Requests taken out of the waiting room (into a lane, or refused at once) less those restored
     * into it: with what the gate's meter passed, what is held out for this subtask.
     */
    private transient long taken;
    /** What this subtask last told {@link #ledger} (none yet: the first word is always sent). */
    private transient Long told;
    private final transient MailboxExecutor mailbox;
    private transient ModelConfig model;
    private transient Tokenizer tokenizer;
    private transient ValueState<RequestState> requests;
    private transient Lane[] lanes;
    /** Requests in keyed state waiting for a lane slot, in arrival order. */
    private transient ArrayDeque<RequestState> waiting;
    /** What the failure log says of requests that were in steps that failed the job. */
    private transient LoggedRequests logged;
    private transient FeedbackKey feedbackKey;
    private transient FeedbackChannel<TokenBatch> feedback;
    private transient SchedulerMetrics metrics;
    private transient StepClock clock;
    /** Whether this job scores (eval) or generates, set by its first request: a step never mixes the two. */
    private transient Boolean scores;

    /** {@code gate}: fed by a source behind it, this operator's coordinator a {@link CountCoordinator}; or null. */
    Scheduler(PipelineConfig config, AdmissionGate gate, StreamOperatorParameters<MicroBatchFrame> parameters) {
        super(parameters);
        this.config = config;
        this.ledger = gate == null ? null : parameters.getOperatorEventDispatcher().getOperatorEventGateway(parameters.getStreamConfig().getOperatorID());
        this.reportEvery = gate == null ? 0 : gate.reportEvery();
        this.mailbox = parameters.getMailboxExecutor();
    }

    @Override public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        logged = new LoggedRequests(FailureLog.of(getRuntimeContext()),
                context.getOperatorStateStore().getListState(new ListStateDescriptor<>("answered-logged", String.class)), context.isRestored());
    }

    @Override public void open() throws Exception {
        super.open();
        Path dir = Path.of(config.modelDir());
        model = ModelConfig.load(dir);
        config.validate(model);
        tokenizer = Tokenizer.load(dir);
        requests = getRuntimeContext().getState(new ValueStateDescriptor<>("requests", RequestStateSerializer.TYPE));
        lanes = new Lane[config.lanes()];
        for (int i = 0; i < lanes.length; i++) lanes[i] = new Lane(laneKey(i));
        waiting = new ArrayDeque<>();
        metrics = new SchedulerMetrics(getMetricGroup(), lanes, config.sequencesPerLane(), waiting);
        clock = new StepClock(getMetricGroup(), StepClock.Phase.ENCODE, StepClock.Phase.FEEDBACK, StepClock.Phase.TOKENS,
                StepClock.Phase.ADMISSION, StepClock.Phase.STEPS);
        feedbackKey = FeedbackKey.of(TokenFeedbackFunction.EDGE, getRuntimeContext());
        feedback = FeedbackBroker.get(feedbackKey);
        // At most one step per lane per mail: with a single stage chained to the scheduler, onTokens runs
        // the next step synchronously and its tokens are queued before the drain ends; an unbounded drain
        // would then run every lane to its end before the next request is read (no continuous batching).
        // Tokens queued during the drain raise a new wake-up, so none is left behind.
        feedback.register(() -> mailbox.execute(() -> feedback.drainTo(this::tokensBack, lanes.length), "sampled tokens"));
        readmitRestored();
    }

    /**
     * A lane key whose key group belongs to this subtask, so that every stage (keyed by lane, same
     * parallelism) holds this scheduler's lanes on the same subtask index: steps move along forward
     * edges, and the last stage's subtask is the one whose sampler feeds this scheduler back.
     */
    private String laneKey(int lane) {
        var info = getRuntimeContext().getTaskInfo();
        for (int n = 0; ; n++) {
            String key = info.getIndexOfThisSubtask() + "/" + lane + "#" + n;
            if (KeyGroupRangeAssignment.assignKeyToParallelOperator(key, info.getMaxNumberOfParallelSubtasks(),
                    info.getNumberOfParallelSubtasks()) == info.getIndexOfThisSubtask()) return key;
        }
    }

    /**
     * After a restore: the requests in state go back into lanes (those that had started first, then in
     * arrival order), to be re-fed from position 0; those beyond the lanes' room wait.
     */
    private void readmitRestored() throws Exception {
        List<String> ids = this.<String>getKeyedStateBackend().getKeys("requests", VoidNamespace.INSTANCE).collect(Collectors.toList());
        List<RequestState> restored = new ArrayList<>();
        for (String id : ids) {
            setCurrentKey(id);
            RequestState r = requests.value();
            if (r == null) continue;
            String reason = logged.culprit(id);
            if (reason != null) {
                requests.clear();
                metrics.refused();
                logged.answered(id);
                output.collect(COMPLETIONS, new StreamRecord<>(CompletionResult.refused(id, r.metadata, reason, r.source)));
                continue;
            }
            r.sequence.rewind();
            requests.update(RequestStateSerializer.TYPE.copy(r)); // r runs in a lane, perhaps while a snapshot writes the state out
            restored.add(r);
            scores = r.sequence.scoring();
        }
        restored.sort(java.util.Comparator.comparing((RequestState r) -> r.admitted == 0).thenComparingLong(r -> r.received));
        waiting.addAll(restored);
        taken = -restored.size();
        for (Lane lane : lanes) {
            fill(lane);
            sendStep(lane);
        }
    }

    /** A request that makes the scheduler throw is noted in the failure log, as a stage's step is. */
    @Override public void processElement(StreamRecord<InferenceRequest> record) throws Exception {
        try {
            admit(record.getValue());
        } catch (Throwable t) {
            logged.failed(List.of(record.getValue().id()), t);
            throw t;
        }
    }

    private void admit(InferenceRequest req) throws Exception {
        if (requests.value() != null) {
            refuse(req, "duplicate request id while the first is in flight");
            return;
        }
        String culprit = logged.culprit(req.id());
        if (culprit != null) {
            logged.answered(req.id());
            refuse(req, culprit);
            return;
        }
        FailureInjection.checkPoison(FailureInjection.Point.SCHEDULER, req.id(), "the scheduler");
        if (scores == null) scores = req.score();
        if (scores != req.score()) {
            refuse(req, "this job " + (scores ? "scores texts" : "generates") + ": a request to " + (req.score() ? "score" : "generate") + " does not belong in it");
            return;
        }
        int[] ids = req.promptIds() != null ? req.promptIds() : tokenizer.encode(req.prompt());
        if (ids.length == 0) {
            refuse(req, "empty prompt");
            return;
        }
        if (!req.score() && ids.length >= model.maxPositions()) {
            refuse(req, "prompt of " + ids.length + " tokens does not fit the model's context of " + model.maxPositions() + " tokens");
            return;
        }
        Sequence seq;
        try {
            seq = req.score() ? Sequence.scoring(req.id(), ids, model.maxPositions())
                    : new Sequence(req.id(), ids, req.params(), model.eosId(), model.maxPositions());
        } catch (IllegalArgumentException e) {
            refuse(req, e.getMessage());   // a scored text too long for the context, or too short to score
            return;
        }
        // Backpressure: while every lane is full and the waiting room too (far beyond it, behind a gate),
        // serve feedback mails instead of taking input.
        int hold = (ledger == null ? WAITING_PER_SLOT : HOLD_PER_SLOT) * slots();
        while (waiting.size() >= hold && !hasRoom(leastLoaded())) mailbox.yield();
        RequestState r = new RequestState(seq, Original.describe(req.metadata(), req.source()), req.receivedMillis(), Original.kept(req.source()));
        setCurrentKey(req.id());
        requests.update(RequestStateSerializer.TYPE.copy(r)); // a snapshot may write it out while r runs in a lane
        waiting.add(r);
        Lane lane = leastLoaded();
        fill(lane);
        if (!lane.inFlight && !lane.lingering && lingers(lane)) sendStepAfter(lane, ADMISSION_LINGER_MS);
        else sendStep(lane);
    }

    /** Whether the lane's next step waits for more arrivals ({@link #ADMISSION_LINGER_MS}). */
    private boolean lingers(Lane lane) {
        return ADMISSION_LINGER_MS > 0 && config.stages() == 1 && lane.admitted && hasRoom(lane);
    }

    private int slots() { return config.lanes() * config.sequencesPerLane(); }

    /** Tells the ledger what this subtask took in, every {@link #reportEvery} (once after opening, and all at {@code flush}). */
    private void tellTaken(boolean flush) {
        if (ledger == null || (told != null && (flush ? told == taken : Math.abs(taken - told) < reportEvery))) return;
        told = taken;
        ledger.sendEventToCoordinator(new CountEvent(taken));
    }

    private boolean hasRoom(Lane lane) { return lane.members.size() < config.sequencesPerLane(); }

    private boolean suspect(RequestState r) { return logged.suspect(r.sequence.id()); }

    private boolean isolating(Lane lane) {
        for (RequestState r : lane.members.values()) if (suspect(r)) return true;
        return false;
    }

    /**
     * Moves waiting requests into the lane while it has room. A suspect (in steps that failed the job,
     * see {@link FailureLog}) runs alone in its lane, so that a next failure names it alone.
     */
    private void fill(Lane lane) {
        while (!waiting.isEmpty() && hasRoom(lane) && !isolating(lane)) {
            if (suspect(waiting.peek()) && !lane.members.isEmpty()) break;
            RequestState r = waiting.poll();
            taken++;
            if (r.admitted == 0) {
                r.admitted = System.currentTimeMillis();
                metrics.admitted();
            }
            lane.members.put(r.sequence.id(), r);
            lane.admitted = true;
        }
        tellTaken(false);
    }

    private void refuse(InferenceRequest req, String reason) {
        metrics.refused();
        output.collect(COMPLETIONS, new StreamRecord<>(CompletionResult.refused(req, reason)));
        taken++;
        tellTaken(false);
    }

    private Lane leastLoaded() {
        Lane best = lanes[0];
        for (Lane l : lanes) if (l.members.size() < best.members.size()) best = l;
        return best;
    }

    /** Sends the lane's next step unless one is in flight: tokens of its members, frees of finished ones. */
    private void sendStep(Lane lane) {
        if (lane.inFlight || lane.lingering) return;
        long t0 = StepClock.now();
        if (lane.members.isEmpty() && lane.releases.isEmpty()) {
            lane.readyNanos = 0; // idle, not waiting
            return;
        }
        if (lane.readyNanos != 0) clock.lap(StepClock.Phase.ADMISSION, lane.readyNanos);
        lane.readyNanos = 0;
        Step step = lane.nextStep(getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(),
                Boolean.TRUE.equals(scores) ? Step.Kind.SCORE : Step.Kind.GENERATE, config.maxBatchTokens(), model.window());
        metrics.step(step.tokens());
        MicroBatchFrame frame = StepCodec.encode(step);
        clock.lap(StepClock.Phase.ENCODE, t0);
        clock.step();
        output.collect(new StreamRecord<>(frame));
    }

    private void tokensBack(TokenBatch batch) {
        try {
            onTokens(batch);
        } catch (Throwable t) {
            logged.failed(List.of(batch.requestIds()), t);
            throw t;
        }
    }

    private void onTokens(TokenBatch batch) {
        Lane lane = null;
        for (Lane l : lanes) if (l.key.equals(batch.lane())) lane = l;
        if (lane == null || !lane.inFlight || lane.step != batch.step())
            throw new IllegalStateException("tokens for " + batch.lane() + " step " + batch.step() + " were not expected");
        long t = clock.lap(StepClock.Phase.FEEDBACK, batch.takenNanos());
        long now = System.currentTimeMillis();
        for (int i = 0; i < batch.requestIds().length; i++) {
            String id = batch.requestIds()[i];
            RequestState r = lane.members.get(id);
            if (r == null) continue; // finished or forgotten while the step travelled
            if (r.sequence.scoring()) {
                r.sequence.addScores(batch.nll()[i], batch.tokens()[i]);
                if (r.sequence.finished()) r.firstToken = now;
            } else {
                if (r.sequence.generatedCount() == 0) r.firstToken = now;
                r.sequence.append(batch.tokens()[i], tokenizer);
                metrics.generated();
            }
            if (r.sequence.finished()) {
                lane.members.remove(id);
                lane.releases.add(id);
                setCurrentKey(id);
                requests.clear();
                emit(r, now);
            }
        }
        lane.inFlight = false;
        fill(lane);
        lane.readyNanos = clock.lap(StepClock.Phase.TOKENS, t);
        sendStepAfter(lane, lingers(lane) ? ADMISSION_LINGER_MS : 0);
    }

    /**
     * The next step of a lane leaves from a processing-time timer when it lingers, or when its last step
     * from a timer is {@link #TIMER_EVERY_MS} old; otherwise straight from the mail that brought its
     * tokens. A stop with a savepoint (the input ends without a drain) quiesces the timers and then runs
     * this operator's mails until none is left: were every step sent from the mail of the last one's
     * tokens, there would always be one, and the stop would wait for every generation to end. So at most
     * {@link #TIMER_EVERY_MS} after the stop began no step leaves; the savepoint holds each request's
     * tokens as they are, and the resumed job re-feeds them. The timer is also where a chained stage's
     * task reads input between steps.
     */
    private void sendStepAfter(Lane lane, long delayMs) {
        long now = System.nanoTime();
        if (delayMs == 0 && now - lane.timerNanos < TIMER_EVERY_MS * 1_000_000) {
            sendStep(lane);
            return;
        }
        lane.timerNanos = now;
        sendStepAfter(lane, delayMs, 1);
    }

    /** A lingering lane (delayMs > 0) waits once more if a request joined it meanwhile, {@link #ADMISSION_LINGERS} times at most. */
    private void sendStepAfter(Lane lane, long delayMs, int linger) {
        lane.lingering = true;
        if (delayMs > 0) lane.admitted = false; // from now on: who joined during this linger
        var time = getProcessingTimeService();
        time.registerTimer(time.getCurrentProcessingTime() + delayMs, t -> {
            if (delayMs > 0 && linger < ADMISSION_LINGERS && lingers(lane)) {
                sendStepAfter(lane, delayMs, linger + 1);
                return;
            }
            lane.lingering = false;
            try {
                sendStep(lane);
            } catch (Throwable e) {
                logged.failed(List.copyOf(lane.members.keySet()), e);
                throw e;
            }
        });
    }

    private void emit(RequestState r, long now) {
        Sequence s = r.sequence;
        logged.answered(s.id());
        metrics.completed(now - r.received);
        output.collect(COMPLETIONS, new StreamRecord<>(new CompletionResult(s.id(), s.text(), s.generated(), s.promptLength(),
                s.finishReason().wire(), r.admitted - r.received, r.firstToken - r.admitted, now - r.firstToken, r.metadata, null, null, s.nllSum())));
    }

    /** Keyed state gets a copy of every live request, so that the snapshot never sees a sequence mid-append. */
    /** Before the barrier: the ledger learns all this subtask took in, so that what it holds is exact at each checkpoint. */
    @Override public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        tellTaken(true);
    }

    @Override public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        logged.snapshot(context.getCheckpointId());
        for (Lane lane : lanes)
            for (var e : lane.members.entrySet()) {
                setCurrentKey(e.getKey());
                requests.update(RequestStateSerializer.TYPE.copy(e.getValue()));
            }
    }

    /** The answers of logged requests up to this checkpoint are committed: the log forgets them. */
    @Override public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        logged.committed(checkpointId);
    }

    /** Bounded input has ended; generation has not: keep serving feedback until every lane is idle. */
    @Override public void endInput() throws Exception {
        while (!allIdle()) mailbox.yield();
    }

    private boolean allIdle() {
        if (!waiting.isEmpty()) return false;
        for (Lane l : lanes) if (!l.idle()) return false;
        return true;
    }

    @Override public void close() throws Exception {
        if (feedbackKey != null) FeedbackBroker.remove(feedbackKey);
        if (tokenizer != null) tokenizer.close();
        super.close();
    }
}
