package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A source's split enumerator that also grants its readers the {@link AdmissionGate}'s credit ({@link
 * CreditEvents}): a reader that asks is granted at once while the gate is open, and otherwise as soon
 * as it opens. A reader asks when it starts (a restarted one too) and whenever it has spent half its
 * last grant. Everything else, its checkpoints included, is the wrapped enumerator's; what it owes is
 * not checkpointed, as a reset restarts the readers, which ask again.
 */
final class GatedEnumerator<S extends SourceSplit, E> implements SplitEnumerator<S, E> {
    private static final Logger LOG = LoggerFactory.getLogger(GatedEnumerator.class);
    private final SplitEnumerator<S, E> enumerator;
    private final SplitEnumeratorContext<S> context;
    private final AdmissionGate gate;
    /** Hands a change of the gate to the coordinator thread, where the readers waiting are granted. */
    private final Runnable changed;
    /** Readers that asked while the gate was closed (coordinator thread only). */
    private final Set<Integer> waiting = new TreeSet<>();
    /** Set on start, cleared on close (which Flink calls from another thread than the coordinator's). */
    private volatile GateState state;

    GatedEnumerator(SplitEnumerator<S, E> enumerator, SplitEnumeratorContext<S> context, AdmissionGate gate) {
        this.enumerator = enumerator;
        this.context = context;
        this.gate = gate;
        this.changed = () -> context.runInCoordinatorThread(this::grantWaiting);
    }

    @Override public void start() {
        state = gate.join();
        state.listen(changed);
        enumerator.start();
    }

    @Override public void addReader(int subtask) { enumerator.addReader(subtask); }

    @Override public void handleSourceEvent(int subtask, SourceEvent event) {
        if (!(event instanceof CreditEvents.Request)) {
            enumerator.handleSourceEvent(subtask, event);
            return;
        }
        GateState s = state;
        if (s != null && s.open()) grant(subtask);
        else waiting.add(subtask);
    }

    private void grantWaiting() {
        GateState s = state;
        if (s == null || !s.open()) return; // closed meanwhile (the enumerator, or the gate again)
        for (int subtask : waiting) grant(subtask);
        waiting.clear();
    }

    /**
     * A reader that failed since it asked gets nothing (a send to it throws, and a throw here fails
     * the job): its next attempt asks again.
     */
    private void grant(int subtask) {
        try {
            context.sendEventToSourceReader(subtask, new CreditEvents.Grant(gate.credit()));
        } catch (RuntimeException e) {
            LOG.debug("credit did not reach reader {}: {}", subtask, e.toString());
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
}
