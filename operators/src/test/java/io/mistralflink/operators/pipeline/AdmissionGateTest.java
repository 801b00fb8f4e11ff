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
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The admission credit's control plane as Flink drives it, without a cluster: the scheduler's
 * coordinator ({@link RoomCoordinator}) gets the subtasks' {@link RoomEvent}s and Flink's failure calls;
 * the source's enumerator (a real {@link NumberSequenceSource}'s, wrapped by {@link
 * AdmissionGate#throttle}) runs on Flink's {@link TestingSplitEnumeratorContext}, whose coordinator
 * thread is stepped by hand; real readers of the same source, each on Flink's {@link
 * TestingReaderContext}, exchange their {@link CreditEvents} with it, and their records are counted.
 */
class AdmissionGateTest {
    static final int READERS = 2;
    /** 1 lane x 2 sequences: a room of 8, a grant of 4. */
    static final PipelineConfig CONFIG = PipelineConfig.builder("unused").lanes(1).sequencesPerLane(2).build();
    AdmissionGate gate;
    int credit;
    Source<Long, NumberSequenceSplit, Collection<NumberSequenceSplit>> source;
    TestingSplitEnumeratorContext<NumberSequenceSplit> context;
    SplitEnumerator<NumberSequenceSplit, Collection<NumberSequenceSplit>> enumerator;
    OperatorCoordinator schedulers;
    final List<SourceReader<Long, NumberSequenceSplit>> readers = new ArrayList<>();
    final List<TestingReaderContext> readerContexts = new ArrayList<>();
    /** Per reader, the enumerator's events already handed to it. */
    final int[] delivered = new int[READERS];

    @BeforeEach void start() throws Exception {
        gate = AdmissionGate.create(CONFIG);
        credit = gate.credit();
        source = gate.throttle(new NumberSequenceSource(1, 1_000_000));
        context = new TestingSplitEnumeratorContext<>(READERS);
        enumerator = source.createEnumerator(context);
        enumerator.start();
        schedulers = new RoomCoordinator.Provider(new OperatorID(), gate).create(null);
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

    /** Records reader {@code i} emits in up to {@code polls} polls, the events carried after each. */
    int poll(int i, int polls) throws Exception {
        TestingReaderOutput<Long> out = new TestingReaderOutput<>();
        for (int n = 0; n < polls; n++) {
            readers.get(i).pollNext(out);
            pump();
        }
        return out.getEmittedRecords().size();
    }

    void say(int subtask, int attempt, boolean full) throws Exception {
        schedulers.handleEventFromOperator(subtask, attempt, new RoomEvent(full));
        pump();
    }

    /** Closed: the reader spends what it holds (at most a grant and a half), then reads nothing more. */
    void assertStops(int reader) throws Exception {
        int spent = poll(reader, 50);
        assertTrue(spent <= credit + credit / 2, "read on " + spent + " records of a credit of " + credit);
        assertEquals(0, poll(reader, 50), "no credit while the gate is closed");
    }

    @Test void readersReadOnCreditWhileOpenAndStopWhileAnySchedulersRoomIsFull() throws Exception {
        pump();
        assertEquals(50, poll(0, 50), "open: a new grant before the last is spent");
        assertEquals(50, poll(1, 50));
        say(3, 0, true);
        assertStops(0);
        assertStops(1);
        CompletableFuture<Void> available = readers.get(0).isAvailable();
        assertFalse(available.isDone(), "the reader waits for credit");
        say(1, 0, true);
        say(3, 0, false);
        assertEquals(0, poll(0, 10), "still closed: subtask 1's room is full");
        assertFalse(available.isDone());
        say(1, 0, false);
        assertTrue(available.isDone(), "the grant is the reader's availability");
        assertEquals(50, poll(0, 50));
        assertEquals(50, poll(1, 50));
    }

    @Test void aFailedSchedulersFullRoomNoLongerHoldsTheGateAndItsLateWordsAreIgnored() throws Exception {
        say(2, 0, true);
        assertStops(0);
        schedulers.executionAttemptFailed(2, 0, new RuntimeException("TaskManager lost"));
        pump();
        assertEquals(50, poll(0, 50), "the failed attempt's full room released");
        schedulers.executionAttemptReady(2, 1, null);
        say(2, 0, true);
        assertEquals(50, poll(0, 50), "a replaced attempt's word is ignored");
        say(2, 1, true);
        assertStops(0);
        schedulers.subtaskReset(2, 7);
        pump();
        assertEquals(50, poll(0, 50), "a subtask reset to a checkpoint releases it");
        say(0, 1, true);
        say(1, 1, true);
        assertStops(0);
        schedulers.resetToCheckpoint(7, null);
        pump();
        assertEquals(50, poll(0, 50), "a global reset releases every subtask");
        assertEquals(50, poll(1, 50));
    }

    @Test void aReaderThatStartsWhileTheGateIsClosedReadsNothingUntilItOpens() throws Exception {
        say(0, 0, true);
        // reader 1's task restarts: Flink drops its registration, a new reader registers and gets its split back
        readers.get(1).close();
        context.registeredReaders().remove(1);
        register(1);
        pump();
        assertEquals(0, poll(1, 50), "a new reader has no credit until the gate opens");
        say(0, 0, false);
        assertEquals(50, poll(1, 50));
    }

    @Test void gatesOfTwoJobsAreApartAndLeaveNothingOnceTheirCoordinatorsClose() throws Exception {
        AdmissionGate other = AdmissionGate.create(CONFIG);
        OperatorCoordinator otherSchedulers = new RoomCoordinator.Provider(new OperatorID(), other).create(null);
        otherSchedulers.start();
        otherSchedulers.handleEventFromOperator(0, 0, new RoomEvent(true));
        pump();
        assertEquals(50, poll(0, 50), "another job's full room closes only its own gate");
        assertTrue(GateState.names().containsAll(List.of(gate.name(), other.name())));
        otherSchedulers.close();
        assertFalse(GateState.names().contains(other.name()), "removed with its last coordinator");
        schedulers.close();
        assertTrue(GateState.names().contains(gate.name()), "the source's enumerator is still there");
        enumerator.close();
        assertFalse(GateState.names().contains(gate.name()));
    }
}
