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
 * The admission gate's control plane as Flink drives it, without a cluster: the scheduler's coordinator
 * ({@link RoomCoordinator}) gets the subtasks' {@link RoomEvent}s and Flink's failure calls; the source's
 * enumerator (a real {@link NumberSequenceSource}'s, wrapped by {@link AdmissionGate#throttle}) runs on
 * Flink's {@link TestingSplitEnumeratorContext}, whose coordinator thread is stepped by hand, and its
 * {@link GateEvent}s are handed to a real reader of the same source, whose records are counted.
 */
class AdmissionGateTest {
    static final int READERS = 2;
    AdmissionGate gate;
    Source<Long, NumberSequenceSplit, Collection<NumberSequenceSplit>> source;
    TestingSplitEnumeratorContext<NumberSequenceSplit> context;
    SplitEnumerator<NumberSequenceSplit, Collection<NumberSequenceSplit>> enumerator;
    OperatorCoordinator schedulers;
    final List<SourceReader<Long, NumberSequenceSplit>> readers = new ArrayList<>();
    /** Per reader, the events of the context already handed to it. */
    final int[] delivered = new int[READERS];

    @BeforeEach void start() throws Exception {
        gate = AdmissionGate.create();
        source = gate.throttle(new NumberSequenceSource(1, 1_000_000));
        context = new TestingSplitEnumeratorContext<>(READERS);
        enumerator = source.createEnumerator(context);
        enumerator.start();
        schedulers = new RoomCoordinator.Provider(new OperatorID(), gate).create(null);
        schedulers.start();
        for (int i = 0; i < READERS; i++) readers.add(register(i));
    }

    @AfterEach void close() throws Exception {
        for (SourceReader<Long, NumberSequenceSplit> r : readers) r.close();
        schedulers.close();
        enumerator.close();
    }

    /** A reader as its task starts it: registered with the enumerator, then its splits assigned by it. */
    SourceReader<Long, NumberSequenceSplit> register(int subtask) throws Exception {
        SourceReader<Long, NumberSequenceSplit> reader = source.createReader(new TestingReaderContext());
        reader.start();
        context.registerReader(subtask, "localhost");
        enumerator.addReader(subtask);
        enumerator.handleSplitRequest(subtask, "localhost");
        var assigned = context.getSplitAssignments().get(subtask);
        if (assigned != null) reader.addSplits(assigned.getAssignedSplits());
        return reader;
    }

    /** Runs the coordinator thread's queue, then hands each reader the events sent to it since last time. */
    void deliver() {
        context.triggerAllActions();
        for (int i = 0; i < READERS; i++) {
            List<SourceEvent> sent = context.getSentEvents().getOrDefault(i, List.of());
            for (; delivered[i] < sent.size(); delivered[i]++) readers.get(i).handleSourceEvents(sent.get(delivered[i]));
        }
    }

    /** Records reader {@code i} emits in up to 10 polls. */
    int poll(int i) throws Exception {
        TestingReaderOutput<Long> out = new TestingReaderOutput<>();
        for (int n = 0; n < 10; n++) if (readers.get(i).pollNext(out) == InputStatus.NOTHING_AVAILABLE) break;
        return out.getEmittedRecords().size();
    }

    void say(int subtask, int attempt, boolean full) throws Exception {
        schedulers.handleEventFromOperator(subtask, attempt, new RoomEvent(full));
        deliver();
    }

    @Test void everyReaderPausesWhileAnySchedulersRoomIsFullAndResumesWhenAllHaveRoom() throws Exception {
        deliver();
        assertEquals(10, poll(0));
        assertEquals(10, poll(1));
        say(3, 0, true);
        assertEquals(0, poll(0), "paused by another subtask's room");
        assertEquals(0, poll(1));
        CompletableFuture<Void> available = readers.get(0).isAvailable();
        assertFalse(available.isDone(), "the reader waits for the gate");
        say(1, 0, true);
        say(3, 0, false);
        assertEquals(0, poll(0), "still closed: subtask 1's room is full");
        assertFalse(available.isDone());
        say(1, 0, false);
        assertTrue(available.isDone(), "the gate's opening is the reader's availability");
        assertEquals(10, poll(0));
        assertEquals(10, poll(1));
    }

    @Test void aFailedSchedulersFullRoomNoLongerHoldsTheGateAndItsLateWordsAreIgnored() throws Exception {
        say(2, 0, true);
        assertEquals(0, poll(0));
        schedulers.executionAttemptFailed(2, 0, new RuntimeException("TaskManager lost"));
        deliver();
        assertEquals(10, poll(0), "the failed attempt's full room released");
        schedulers.executionAttemptReady(2, 1, null);
        say(2, 0, true);
        assertEquals(10, poll(0), "a replaced attempt's word is ignored");
        say(2, 1, true);
        assertEquals(0, poll(0), "the new attempt's counts");
        schedulers.subtaskReset(2, 7);
        deliver();
        assertEquals(10, poll(0), "a subtask reset to a checkpoint releases it");
        say(0, 1, true);
        say(1, 1, true);
        schedulers.resetToCheckpoint(7, null);
        deliver();
        assertEquals(10, poll(0), "a global reset releases every subtask");
        assertEquals(10, poll(1));
    }

    @Test void aReaderThatRegistersWhileTheGateIsClosedIsToldAtOnce() throws Exception {
        say(0, 0, true);
        // reader 1's task restarts: Flink drops its registration, a new reader registers and gets its split back
        readers.get(1).close();
        context.registeredReaders().remove(1);
        context.getSentEvents().remove(1);
        delivered[1] = 0;
        readers.set(1, register(1));
        deliver();
        assertEquals(List.of(new GateEvent(false)), context.getSentEvents().get(1), "told the state on registering");
        assertEquals(0, poll(1));
        say(0, 0, false);
        assertEquals(10, poll(1));
    }

    @Test void gatesOfTwoJobsAreApartAndLeaveNothingOnceTheirCoordinatorsClose() throws Exception {
        AdmissionGate other = AdmissionGate.create();
        OperatorCoordinator otherSchedulers = new RoomCoordinator.Provider(new OperatorID(), other).create(null);
        otherSchedulers.start();
        otherSchedulers.handleEventFromOperator(0, 0, new RoomEvent(true));
        deliver();
        assertEquals(10, poll(0), "another job's full room closes only its own gate");
        assertTrue(GateState.names().containsAll(List.of(gate.name(), other.name())));
        otherSchedulers.close();
        assertFalse(GateState.names().contains(other.name()), "removed with its last coordinator");
        schedulers.close();
        assertTrue(GateState.names().contains(gate.name()), "the source's enumerator is still there");
        enumerator.close();
        assertFalse(GateState.names().contains(gate.name()));
    }

}
