package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource.NumberSequenceSplit;
import org.apache.flink.connector.testutils.source.reader.TestingReaderContext;
import org.apache.flink.connector.testutils.source.reader.TestingReaderOutput;
import org.apache.flink.connector.testutils.source.reader.TestingSplitEnumeratorContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The admission credit's control plane as Flink drives it, without a cluster: the meter's and the
 * schedulers' coordinators ({@link CountCoordinator}) get the subtasks' {@link CountEvent}s and Flink's
 * failure calls; the source's enumerator (a real {@link NumberSequenceSource}'s, wrapped by {@link
 * AdmissionGate#throttle}) runs on Flink's {@link TestingSplitEnumeratorContext}, whose coordinator
 * thread is stepped by hand; real readers of the same source, each on Flink's {@link
 * TestingReaderContext}, exchange their {@link CreditEvents} with it, and what they emit is counted as
 * the meter after them counts it (every record here, as {@link AdmissionGate#reportEvery} is 1 for a room of 8).
 */
class AdmissionGateTest {
    static final int READERS = 2, SCHEDULERS = 2;
    /** 1 lane x 2 sequences: a room of 8 per scheduler subtask, a grant of 4 at most. */
    static final PipelineConfig CONFIG = PipelineConfig.builder("unused").lanes(1).sequencesPerLane(2).build();
    static final int CAPACITY = SCHEDULERS * Scheduler.WAITING_PER_SLOT * 2;
    AdmissionGate gate;
    int credit;
    Source<Long, NumberSequenceSplit, Collection<NumberSequenceSplit>> source;
    TestingSplitEnumeratorContext<NumberSequenceSplit> context;
    SplitEnumerator<NumberSequenceSplit, Collection<NumberSequenceSplit>> enumerator;
    OperatorCoordinator meter, schedulers;
    final List<SourceReader<Long, NumberSequenceSplit>> readers = new ArrayList<>();
    final List<TestingReaderContext> readerContexts = new ArrayList<>();
    /** Per reader, the enumerator's events already handed to it. */
    final int[] delivered = new int[READERS];
    /** Per reader's task: records its reader emitted, those dead-lettered before the meter, the meter's attempt. */
    final long[] emitted = new long[READERS], dropped = new long[READERS];
    final int[] meterAttempt = new int[READERS];
    /** What each scheduler subtask said it took in. */
    final long[] taken = new long[SCHEDULERS];

    @BeforeEach void start() throws Exception {
        gate = AdmissionGate.create(CONFIG);
        credit = gate.credit();
        assertEquals(1, gate.reportEvery());
        source = gate.throttle(new NumberSequenceSource(1, 1_000_000));
        context = new TestingSplitEnumeratorContext<>(READERS);
        enumerator = source.createEnumerator(context);
        enumerator.start();
        meter = new CountCoordinator(gate, CountCoordinator.Side.PASSED, READERS);
        meter.start();
        schedulers = new CountCoordinator(gate, CountCoordinator.Side.TAKEN, SCHEDULERS);
        schedulers.start();
        for (int i = 0; i < READERS; i++) {
            readers.add(null);
            readerContexts.add(null);
            register(i);
        }
    }

    @AfterEach void close() throws Exception {
        for (SourceReader<Long, NumberSequenceSplit> r : readers) r.close();
        schedulers.close();
        meter.close();
        enumerator.close();
    }

    /** A reader as its task opens it: registered with the enumerator, started, its splits assigned by the enumerator. */
    void register(int subtask) throws Exception {
        TestingReaderContext rc = new TestingReaderContext();
        SourceReader<Long, NumberSequenceSplit> reader = source.createReader(rc);
        readers.set(subtask, reader);
        readerContexts.set(subtask, rc);
        context.getSentEvents().remove(subtask);
        delivered[subtask] = 0;
        context.registerReader(subtask, "localhost");
        enumerator.addReader(subtask);
        reader.start();
        enumerator.handleSplitRequest(subtask, "localhost");
        var assigned = context.getSplitAssignments().get(subtask);
        if (assigned != null) reader.addSplits(assigned.getAssignedSplits());
    }

    /** Reader {@code subtask}'s task fails and restarts: a new reader, a new meter attempt that has counted nothing. */
    void restart(int subtask) throws Exception {
        meter.executionAttemptFailed(subtask, meterAttempt[subtask]++, new RuntimeException("TaskManager lost"));
        emitted[subtask] = dropped[subtask] = 0;
        readers.get(subtask).close();
        context.registeredReaders().remove(subtask);
        register(subtask);
        pump();
    }

    /** Carries the events both ways (readers -> enumerator, the coordinator thread's queue, enumerator -> readers) until none is left. */
    void pump() {
        for (boolean moved = true; moved; ) {
            moved = false;
            for (int i = 0; i < READERS; i++) {
                List<SourceEvent> asked = List.copyOf(readerContexts.get(i).getSentEvents());
                readerContexts.get(i).clearSentEvents();
                for (SourceEvent e : asked) enumerator.handleSourceEvent(i, e);
                moved |= !asked.isEmpty();
            }
            context.triggerAllActions();
            for (int i = 0; i < READERS; i++) {
                List<SourceEvent> sent = context.getSentEvents().getOrDefault(i, List.of());
                for (; delivered[i] < sent.size(); delivered[i]++, moved = true) readers.get(i).handleSourceEvents(sent.get(delivered[i]));
            }
        }
    }

    int poll(int i, int polls) throws Exception { return poll(i, polls, false); }

    /**
     * Records reader {@code i} emits in up to {@code polls} polls, every other one dead-lettered before
     * the meter if {@code dropping}; the meter's count and the events carried after each poll.
     */
    int poll(int i, int polls, boolean dropping) throws Exception {
        TestingReaderOutput<Long> out = new TestingReaderOutput<>();
        for (int n = 0; n < polls; n++) {
            int before = out.getEmittedRecords().size();
            readers.get(i).pollNext(out);
            for (int r = before; r < out.getEmittedRecords().size(); r++)
                if (++emitted[i] % 2 == 0 && dropping) dropped[i]++;
            meter.handleEventFromOperator(i, meterAttempt[i], new CountEvent(emitted[i] - dropped[i]));
            pump();
            if (out.getEmittedRecords().size() > before)
                assertTrue(heldOut() <= CAPACITY, "the meters passed " + heldOut() + " more than the schedulers took in, beyond their rooms of " + CAPACITY);
        }
        return out.getEmittedRecords().size();
    }

    /** Passed by the meters and not taken in by a scheduler. */
    long heldOut() {
        long held = 0;
        for (int i = 0; i < READERS; i++) held += emitted[i] - dropped[i];
        for (long t : taken) held -= t;
        return held;
    }

    int readAll() throws Exception { return poll(0, 50) + poll(1, 50); }

    void take(int subtask, int attempt, long count) throws Exception {
        taken[subtask] = count;
        schedulers.handleEventFromOperator(subtask, attempt, new CountEvent(count));
        pump();
    }

    @Test void theSourcesReadAheadOnlyWhatTheSchedulersRoomsHaveFree() throws Exception {
        pump();
        assertEquals(CAPACITY, readAll(), "the sources read what the rooms hold, then wait");
        CompletableFuture<Void> available = readers.get(0).isAvailable();
        assertFalse(available.isDone(), "the reader waits for credit");
        assertEquals(0, readAll());
        take(1, 0, 6);
        assertTrue(available.isDone(), "the grant is the reader's availability");
        assertEquals(6, readAll(), "as many more as scheduler 1 took in");
        take(0, 0, 3);
        take(1, 0, 10);
        assertEquals(7, readAll());
        assertEquals(0, readAll());
    }

    @Test void recordsDeadLetteredOnTheWayTakeNoRoom() throws Exception {
        pump();
        // reader 1 holds its first grant unspent; reader 0 reads until the records it passed (the 1st, 3rd, ...) fill the rest
        assertEquals(2 * (CAPACITY - credit) - 1, poll(0, 200, true), "every second record reader 0 read was dead-lettered");
        assertEquals(credit, poll(1, 50));
        assertEquals(0, readAll());
    }

    @Test void aFailedAttemptsCountNoLongerCountsAndALateWordIsIgnored() throws Exception {
        pump();
        assertEquals(CAPACITY, readAll());
        take(0, 0, 8);
        assertEquals(8, readAll());
        // a failover: Flink drops scheduler 0's attempt (and what was on its way to it), then the readers' tasks restart
        schedulers.executionAttemptFailed(0, 0, new RuntimeException("TaskManager lost"));
        taken[0] = 0;
        assertEquals(0, readAll(), "scheduler 0's count dropped: the rooms are full of what the meters passed");
        restart(0);
        restart(1);
        assertEquals(CAPACITY, readAll(), "the meters' failed attempts' counts dropped too: the ledger starts again from nothing");
        schedulers.executionAttemptReady(0, 1, null);
        schedulers.handleEventFromOperator(0, 0, new CountEvent(100));
        pump();
        assertEquals(0, readAll(), "a replaced attempt's word is ignored");
        take(0, 1, 5);
        assertEquals(5, readAll());
        take(1, 0, 4);
        assertEquals(4, readAll());
        schedulers.subtaskReset(1, 7);
        taken[1] = 0;
        pump();
        assertEquals(0, readAll(), "a subtask reset to a checkpoint drops its count");
        schedulers.resetToCheckpoint(7, null);
        Arrays.fill(taken, 0);
        for (int i = 0; i < READERS; i++) restart(i);
        assertEquals(CAPACITY, readAll(), "after a global reset every count starts from nothing");
    }

    @Test void aRestartedReadersUnspentCreditGoesBackToTheRooms() throws Exception {
        pump();
        assertEquals(CAPACITY - credit, poll(0, 50), "reader 1 holds its first grant");
        restart(1);
        assertEquals(credit, poll(0, 50) + poll(1, 50), "what the old reader 1 held is granted again, once");
        take(0, 0, 2);
        assertEquals(2, readAll());
    }

    @Test void gatesOfTwoJobsAreApartAndLeaveNothingOnceTheirCoordinatorsClose() throws Exception {
        AdmissionGate other = AdmissionGate.create(CONFIG);
        OperatorCoordinator otherMeter = new CountCoordinator(other, CountCoordinator.Side.PASSED, 1);
        otherMeter.start();
        otherMeter.handleEventFromOperator(0, 0, new CountEvent(1000));
        pump();
        assertEquals(CAPACITY, readAll(), "another job's ledger is its own");
        assertTrue(GateState.names().containsAll(List.of(gate.name(), other.name())));
        otherMeter.close();
        assertFalse(GateState.names().contains(other.name()), "removed with its last coordinator");
        schedulers.close();
        meter.close();
        assertTrue(GateState.names().contains(gate.name()), "the source's enumerator is still there");
        enumerator.close();
        assertFalse(GateState.names().contains(gate.name()));
    }
}
