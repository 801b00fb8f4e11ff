package io.mistralflink.operators.pipeline;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A test-only switch that makes a pipeline operator throw once, to exercise recovery. Off unless a
 * test arms it: production code pays one volatile read per step. It is a static (JVM-wide) switch,
 * so it reaches the operators of a local MiniCluster in the same JVM, not those of a remote cluster.
 *
 * <pre>{@code
 * FailureInjection.arm(FailureInjection.Point.STAGE, 5);   // the 5th stage step from now throws, once
 * ... run the job ...
 * assertTrue(FailureInjection.fired(FailureInjection.Point.STAGE));
 * FailureInjection.disarm();
 * }</pre>
 */
public final class FailureInjection {
    /**
     * Where a failure can be injected: a layer-shard stage's step, the tail handing tokens back, the
     * scheduler admitting a request, the results operator writing a completion out. {@link #arm}
     * counts steps at STAGE and FEEDBACK; {@link #poison(Point, String)} works at every point.
     */
    public enum Point { STAGE, FEEDBACK, SCHEDULER, RESULTS }

    /** The exception an armed point throws. */
    public static final class InjectedFailure extends RuntimeException {
        InjectedFailure(String message) { super(message); }
    }

    private static volatile boolean armed;
    /** A request whose every pass through {@link #poisoned} throws (a poison the job must isolate), or null. */
    private static volatile String poison;
    private static volatile Point poisoned;
    private static final Map<Point, AtomicLong> COUNTDOWN = new EnumMap<>(Point.class);
    private static final Map<Point, AtomicLong> FIRED = new EnumMap<>(Point.class);

    static {
        for (Point p : Point.values()) {
            COUNTDOWN.put(p, new AtomicLong(-1));
            FIRED.put(p, new AtomicLong());
        }
        // a test that runs the job in a process of its own arms it there: -Dmistralflink.failureInjection=STAGE:30
        String spec = System.getProperty("mistralflink.failureInjection");
        if (spec != null) arm(Point.valueOf(spec.substring(0, spec.indexOf(':'))), Long.parseLong(spec.substring(spec.indexOf(':') + 1)));
    }

    private FailureInjection() {}

    /** The {@code calls}-th step through {@code point} from now (1 = the next one) throws, once. */
    public static synchronized void arm(Point point, long calls) {
        if (calls < 1) throw new IllegalArgumentException("calls must be >= 1");
        COUNTDOWN.get(point).set(calls);
        armed = true;
    }

    /** Every stage step that carries request {@code requestId} throws, until {@link #disarm()}. */
    public static synchronized void poison(String requestId) { poison(Point.STAGE, requestId); }

    /** Every pass of request {@code requestId} through {@code point} throws, until {@link #disarm()}. */
    public static synchronized void poison(Point point, String requestId) {
        poisoned = point;
        poison = requestId;
        armed = true;
    }

    /** Disarms every point and forgets what fired. */
    public static synchronized void disarm() {
        armed = false;
        poison = null;
        poisoned = null;
        for (Point p : Point.values()) {
            COUNTDOWN.get(p).set(-1);
            FIRED.get(p).set(0);
        }
    }

    /** How many times {@code point} has thrown since the last {@link #disarm()}. */
    public static long fired(Point point) { return FIRED.get(point).get(); }

    /** Called by the stages at each step. */
    static void checkPoison(Point point, io.mistralflink.operators.frame.MicroBatchFrame f, String where) {
        if (!armed || poisoned != point) return;
        for (int r = 0; r < f.rows(); r++) checkPoison(point, f.requestId(r), where);
    }

    /** Called where one request passes {@code point}. */
    public static void checkPoison(Point point, String requestId, String where) {
        String p = poison;
        if (!armed || p == null || poisoned != point) return;
        if (requestId.equals(p)) throw new InjectedFailure("injected failure in " + where + " for request " + p + " (test hook FailureInjection.poison)");
    }

    /** Called by the operators at each step. */
    static void check(Point point, String where) {
        if (!armed) return;
        if (COUNTDOWN.get(point).decrementAndGet() == 0) {
            FIRED.get(point).incrementAndGet();
            throw new InjectedFailure("injected failure in " + where + " (test hook FailureInjection." + point + ")");
        }
    }
}
