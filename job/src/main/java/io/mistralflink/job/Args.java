package io.mistralflink.job;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} and {@code --flag} arguments, each checked against what a command accepts. */
public final class Args {
    /** A bad argument: the CLI prints the message on one line and exits non-zero. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) { super(message); }
    }

    private final String command;
    private final Map<String, String> values = new HashMap<>();
    private final Map<String, List<String>> repeated = new HashMap<>();
    private final Set<String> flags = new HashSet<>();

    public Args(String command, String[] argv, int from, List<String> options, List<String> booleanFlags) {
        this.command = command;
        for (int i = from; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) throw new UsageException(command + ": unexpected argument '" + a + "'");
            String name = a.substring(2), inline = null;
            int eq = name.indexOf('=');
            if (eq >= 0) { inline = name.substring(eq + 1); name = name.substring(0, eq); }
            if (booleanFlags.contains(name)) { flags.add(name); continue; }
            if (!options.contains(name)) throw new UsageException(command + ": unknown option --" + name);
            if (inline == null) {
                if (i + 1 >= argv.length) throw new UsageException(command + ": --" + name + " needs a value");
                inline = argv[++i];
            }
            values.put(name, inline);
            repeated.computeIfAbsent(name, k -> new java.util.ArrayList<>()).add(inline);
        }
    }

    public boolean flag(String name) { return flags.contains(name); }
    public boolean has(String name) { return values.containsKey(name); }
    public String get(String name, String fallback) { return values.getOrDefault(name, fallback); }

    /** Every value of an option that may be given more than once, in order (the last one is {@link #get}'s). */
    public List<String> all(String name) { return repeated.getOrDefault(name, List.of()); }

    public String required(String name) {
        String v = values.get(name);
        if (v == null) throw new UsageException(command + ": --" + name + " is required");
        return v;
    }

    public int integer(String name, int fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try { return Integer.parseInt(v); }
        catch (NumberFormatException e) { throw new UsageException(command + ": --" + name + " must be an integer, got '" + v + "'"); }
    }

    /** An integer option that must lie in [min, max]: anything else is a one-line usage error. */
    public int integer(String name, int fallback, int min, int max) {
        int v = integer(name, fallback);
        if (has(name) && (v < min || v > max))
            throw new UsageException(command + ": --" + name + " must be between " + min + " and " + max + ", got " + v);
        return v;
    }

    /** Every element of a list option in [min, max]. */
    public int[] integers(String name, int[] fallback, int min, int max) {
        int[] v = integers(name, fallback);
        for (int x : v)
            if (has(name) && (x < min || x > max))
                throw new UsageException(command + ": --" + name + " values must be between " + min + " and " + max + ", got " + x);
        return v;
    }

    /** A finite number in [min, max]. */
    public float decimal(String name, float fallback, float min, float max) {
        float v = decimal(name, fallback);
        if (has(name) && !(Float.isFinite(v) && v >= min && v <= max))
            throw new UsageException(command + ": --" + name + " must be a finite number " + (max == Float.MAX_VALUE ? ">= " + min
                    : min == Float.MIN_VALUE ? "in (0, " + max + "]" : "between " + min + " and " + max) + ", got " + get(name, ""));
        return v;
    }

    /** The threads a command may ask for: enough to oversubscribe the cores, not enough to exhaust the machine. */
    public static int maxThreads() { return Math.max(64, 4 * Runtime.getRuntime().availableProcessors()); }

    public long longValue(String name, long fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try { return Long.parseLong(v); }
        catch (NumberFormatException e) { throw new UsageException(command + ": --" + name + " must be an integer, got '" + v + "'"); }
    }

    public float decimal(String name, float fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try { return Float.parseFloat(v); }
        catch (NumberFormatException e) { throw new UsageException(command + ": --" + name + " must be a number, got '" + v + "'"); }
    }

    public int[] integers(String name, int[] fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try { return java.util.Arrays.stream(v.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray(); }
        catch (NumberFormatException e) { throw new UsageException(command + ": --" + name + " must be a comma-separated list of integers, got '" + v + "'"); }
    }
}
