package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.List;

/**
 * A source's split enumerator that also tells its readers whether the {@link AdmissionGate} is open
 * ({@link GateEvent}): all of them each time the gate opens or closes, and each reader as it registers
 * (a restarted reader learns the state it missed). Everything else, its checkpoints included, is the
 * wrapped enumerator's.
 */
final class GatedEnumerator<S extends SourceSplit, E> implements SplitEnumerator<S, E> {
    private static final Logger LOG = LoggerFactory.getLogger(GatedEnumerator.class);
    private final SplitEnumerator<S, E> enumerator;
    private final SplitEnumeratorContext<S> context;
    private final AdmissionGate gate;
    /** Hands a change of the gate to the coordinator thread, where readers are told. */
    private final Runnable changed;
    /** Set on start, cleared on close (which Flink calls from another thread than the coordinator's). */
    private volatile GateState state;

    GatedEnumerator(SplitEnumerator<S, E> enumerator, SplitEnumeratorContext<S> context, AdmissionGate gate) {
        this.enumerator = enumerator;
        this.context = context;
        this.gate = gate;
        this.changed = () -> context.runInCoordinatorThread(this::tellAll);
    }

    @Override public void start() {
        state = gate.join();
        state.listen(changed);
        enumerator.start();
    }

    @Override public void addReader(int subtask) {
        enumerator.addReader(subtask);
        GateState s = state;
        if (s != null) tell(subtask, s.open());
    }

    private void tellAll() {
        GateState s = state;
        if (s == null) return; // closed meanwhile
        boolean open = s.open();
        for (int subtask : List.copyOf(context.registeredReaders().keySet())) tell(subtask, open);
    }

    /**
     * A reader that failed after it registered is told nothing (a send to it throws, and a throw here
     * fails the job): its next attempt registers again and is told then.
     */
    private void tell(int subtask, boolean open) {
        try {
            context.sendEventToSourceReader(subtask, new GateEvent(open));
        } catch (RuntimeException e) {
            LOG.debug("the gate's state did not reach reader {}: {}", subtask, e.toString());
        }
    }

    @Override public void close() throws IOException {
        GateState s = state;
        state = null;
        if (s != null) {
            s.unlisten(changed);
            s.leave(this);
        }
        enumerator.close();
    }

    @Override public void handleSplitRequest(int subtask, String host) { enumerator.handleSplitRequest(subtask, host); }
    @Override public void addSplitsBack(List<S> splits, int subtask) { enumerator.addSplitsBack(splits, subtask); }
    @Override public E snapshotState(long checkpointId) throws Exception { return enumerator.snapshotState(checkpointId); }
    @Override public void notifyCheckpointComplete(long checkpointId) throws Exception { enumerator.notifyCheckpointComplete(checkpointId); }
    @Override public void notifyCheckpointAborted(long checkpointId) throws Exception { enumerator.notifyCheckpointAborted(checkpointId); }
    @Override public void handleSourceEvent(int subtask, SourceEvent event) { enumerator.handleSourceEvent(subtask, event); }
}
