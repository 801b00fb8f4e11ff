package io.mistralflink.operators.pipeline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The JobManager side of one {@link AdmissionGate}: closed while any party (a scheduler's {@link
 * RoomCoordinator}) says so, and telling its listeners (the source's {@link GatedEnumerator}s) each
 * time it opens or closes. The scheduler's coordinator and the source's are separate objects that Flink
 * makes, resets and closes on its own schedule; they meet here by the gate's name. An entry lives while
 * a party has joined and not left it, so a job leaves nothing behind.
 */
final class GateState {
    private static final Map<String, GateState> GATES = new HashMap<>(); // guarded by itself

    private final String name;
    private int members;                                  // guarded by GATES
    private final Set<Object> closedBy = new HashSet<>(); // guarded by this
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    private GateState(String name) { this.name = name; }

    static GateState join(String name) {
        synchronized (GATES) {
            GateState s = GATES.computeIfAbsent(name, GateState::new);
            s.members++;
            return s;
        }
    }

    /** What {@code party} said no longer counts; the last to leave removes the entry. */
    void leave(Object party) {
        close(party, false);
        synchronized (GATES) {
            if (--members == 0) GATES.remove(name);
        }
    }

    /** The gates that have members now (for tests: a closed job leaves none). */
    static Set<String> names() {
        synchronized (GATES) { return new HashSet<>(GATES.keySet()); }
    }

    /** {@code party} closes the gate ({@code closes}) or no longer does; listeners hear of the gate's changes. */
    void close(Object party, boolean closes) {
        boolean changed;
        synchronized (this) {
            boolean wasOpen = closedBy.isEmpty();
            if (closes) closedBy.add(party);
            else closedBy.remove(party);
            changed = wasOpen != closedBy.isEmpty();
        }
        if (changed) for (Runnable l : new ArrayList<>(listeners)) l.run();
    }

    synchronized boolean open() { return closedBy.isEmpty(); }

    /** {@code listener} runs after each change, on the thread that made it: it must only hand the news on. */
    void listen(Runnable listener) { listeners.add(listener); }

    void unlisten(Runnable listener) { listeners.remove(listener); }
}
