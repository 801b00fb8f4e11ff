package io.mistralflink.job.cli;

import io.mistralflink.job.common.UsageException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/**
 * A subcommand: its options are annotated fields, {@link #call} runs it. Results go to {@link #out}
 * (stdout, or a test's buffer), progress and notes to {@link #err}. A bad argument is a
 * {@link UsageException} of one line that starts with the command's name.
 */
public abstract class CliCommand implements Callable<Integer> {
    @Spec protected CommandSpec spec;
    protected PrintStream out = System.out, err = System.err;

    /** Where the results, and the progress and notes, go. */
    public final CliCommand writingTo(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
        return this;
    }

    /** "bench", "cluster up": the command as the user typed it, without the program's name. */
    static String name(CommandSpec spec) {
        String q = spec.qualifiedName(" ");
        int space = q.indexOf(' ');
        return space < 0 ? "" : q.substring(space + 1);
    }

    /** Whether the option was on the command line (not only at its default). */
    protected final boolean given(String option) { return spec.commandLine().getParseResult().hasMatchedOption(option); }

    protected final UsageException usage(String message) { return usage(spec, message); }

    static UsageException usage(CommandSpec spec, String message) {
        String name = name(spec);
        return new UsageException(name.isEmpty() ? message : name + ": " + message);
    }

    /** An integer option that must lie in [min, max]. */
    static int between(CommandSpec spec, String option, int value, int min, int max) {
        if (value < min || value > max) throw usage(spec, option + " must be between " + min + " and " + max + ", got " + value);
        return value;
    }

    protected final int between(String option, int value, int min, int max) { return between(spec, option, value, min, max); }

    /** Every element of a list option in [min, max]. */
    protected final int[] each(String option, int[] values, int min, int max) {
        for (int v : values)
            if (v < min || v > max) throw usage(option + " values must be between " + min + " and " + max + ", got " + v);
        return values;
    }

    /** The threads a command may ask for: enough to oversubscribe the cores, not enough to exhaust the machine. */
    static int maxThreads() { return Math.max(64, 4 * cores()); }

    static int cores() { return Runtime.getRuntime().availableProcessors(); }
}
