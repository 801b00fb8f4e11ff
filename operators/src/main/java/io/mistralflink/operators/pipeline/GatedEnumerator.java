package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A source's split enumerator that also grants its readers the {@link AdmissionGate}'s credit ({@link
 * CreditEvents}): a reader that asks is granted what the schedulers' rooms have free in the gate's
 * ledger ({@link GateState}), at most half a room, at once or as soon as there is some. A reader asks
 * when it starts (a restarted one too) and whenever it has spent half its last grant, and says how
 * many records it has read: the credit it holds unspent is this enumerator's share of the ledger.
 * Everything else, its checkpoints included, is the wrapped enumerator's; what it granted is not
 * checkpointed, as a reset restarts the readers, which start again from nothing and ask.
 */
final class GatedEnumerator<S extends SourceSplit, E> implements SplitEnumerator<S, E> {
    private static final Logger LOG = LoggerFactory.getLogger(GatedEnumerator.class);
    private final SplitEnumerator<S, E> enumerator;
    private final SplitEnumeratorContext<S> context;
    private final AdmissionGate gate;
    /** Hands a change of the ledger to the coordinator thread, where the readers waiting are granted. */
    private final Runnable changed;
    /** Per reader (subtask), what it was granted and said it read since it registered (coordinator thread only). */
    private final Map<Integer, Account> accounts = new HashMap<>();
    /** Readers that asked and have not been granted yet, in order (coordinator thread only). */
    private final Set<Integer> waiting = new LinkedHashSet<>();
    /** Set on start, cleared on close (which Flink calls from another thread than the coordinator's). */
    private volatile GateState state;

    private static final class Account {
        long granted, spent;
    }

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

    /** A reader registers (a restarted one too): it holds nothing yet. */
    @Override public void addReader(int subtask) {
        accounts.put(subtask, new Account());
        waiting.remove(subtask);
        grantWaiting(); // what its previous attempt held is free again
        enumerator.addReader(subtask);
    }

    @Override public void handleSourceEvent(int subtask, SourceEvent event) {
        if (!(event instanceof CreditEvents.Request request)) {
            enumerator.handleSourceEvent(subtask, event);
            return;
        }
        accounts.computeIfAbsent(subtask, s -> new Account()).spent = request.spent();
        waiting.add(subtask);
        grantWaiting();
    }

    /** The credit the readers hold unspent. */
    private long held() {
        long held = 0;
        for (Account a : accounts.values()) held += Math.max(0, a.granted - a.spent);
        return held;
    }

    /**
     * Grants the readers waiting, in order, while the ledger has room. A reader that failed since it
     * asked gets nothing (a send to it throws, and a throw here fails the job): its next attempt asks again.
     */
    private void grantWaiting() {
        GateState s = state;
        if (s == null) return; // closed meanwhile
        long held = held();
        s.reserve(this, held, 0); // the share as it is now (a reader may have spent, or restarted)
        for (Iterator<Integer> it = waiting.iterator(); it.hasNext(); ) {
            int subtask = it.next();
            int got = (int) s.reserve(this, held, gate.credit());
            if (got == 0) return;
            it.remove();
            try {
                context.sendEventToSourceReader(subtask, new CreditEvents.Grant(got));
                accounts.get(subtask).granted += got;
                held += got;
            } catch (RuntimeException e) {
                s.reserve(this, held, 0); // not delivered: not held
                LOG.debug("credit did not reach reader {}: {}", subtask, e.toString());
            }
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
