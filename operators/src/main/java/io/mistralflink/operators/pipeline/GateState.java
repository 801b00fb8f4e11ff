package io.mistralflink.operators.pipeline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The JobManager side of one {@link AdmissionGate}: its ledger of the requests held out between the
 * source and the schedulers' lanes. Each party posts its share: the source's {@link GatedEnumerator}
 * the credit its readers hold unspent; the meter's {@link CountCoordinator} the requests passed toward
 * the schedulers; the schedulers' the requests they took in (negative) and their waiting rooms (the
 * capacity). What is held out is thus the credit unspent, the requests on their way (in network
 * buffers) and those waiting in a room; a record that a reader read and the job dead-lettered is in
 * none of them. The coordinators are separate objects that Flink makes, resets and closes on its own
 * schedule; they meet here by the gate's name. An entry lives while a party has joined and not left
 * it, so a job leaves nothing behind.
 */
final class GateState {
    private static final Map<String, GateState> GATES = new HashMap<>(); // guarded by itself

    /** A party's share: requests it holds out (or took in, negative) and the room it brings. */
    private record Share(long held, long capacity) {}

    private final String name;
    private int members;                                    // guarded by GATES
    private final Map<Object, Share> shares = new HashMap<>(); // guarded by this
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    private GateState(String name) { this.name = name; }

    static GateState join(String name) {
        synchronized (GATES) {
            GateState s = GATES.computeIfAbsent(name, GateState::new);
            s.members++;
            return s;
        }
    }

    /** What {@code party} posted no longer counts; the last to leave removes the entry. */
    void leave(Object party) {
        synchronized (this) { shares.remove(party); }
        changed();
        synchronized (GATES) {
            if (--members == 0) GATES.remove(name);
        }
    }

    /** The gates that have members now (for tests: a closed job leaves none). */
    static Set<String> names() {
        synchronized (GATES) { return new HashSet<>(GATES.keySet()); }
    }

    /** {@code party}'s share is now {@code held} requests and a room of {@code capacity}; listeners hear of it where it leaves room. */
    void post(Object party, long held, long capacity) {
        synchronized (this) { shares.put(party, new Share(held, capacity)); }
        changed();
    }

    /**
     * {@code party}, holding {@code held} requests out, asks for {@code wanted} more: it gets what the
     * rooms have free, at most that, and its share grows by it. Listeners are not told (it is theirs to ask).
     */
    synchronized long reserve(Object party, long held, long wanted) {
        shares.put(party, new Share(held, 0));
        long got = Math.max(0, Math.min(wanted, free()));
        shares.put(party, new Share(held + got, 0));
        return got;
    }

    /** The rooms' capacity less what is held out (what the schedulers took in beyond counts for nothing). */
    synchronized long free() {
        long held = 0, capacity = 0;
        for (Share s : shares.values()) {
            held += s.held();
            capacity += s.capacity();
        }
        return capacity - Math.max(0, held);
    }

    private void changed() {
        if (free() > 0) for (Runnable l : new ArrayList<>(listeners)) l.run();
    }

    /** {@code listener} runs after a post that leaves room, on the thread that made it: it must only hand the news on. */
    void listen(Runnable listener) { listeners.add(listener); }

    void unlisten(Runnable listener) { listeners.remove(listener); }
}
