package io.mistralflink.job;

import io.mistralflink.job.cli.BatchCommand;
import io.mistralflink.job.cli.BenchCommand;
import io.mistralflink.job.cli.BenchPipelineCommand;
import io.mistralflink.job.cli.BenchSqlCommand;
import io.mistralflink.job.cli.CliCommand;
import io.mistralflink.job.cli.ClusterCommand;
import io.mistralflink.job.cli.ConsumeCommand;
import io.mistralflink.job.cli.DemoCommand;
import io.mistralflink.job.cli.EvalCommand;
import io.mistralflink.job.cli.GenerateCommand;
import io.mistralflink.job.cli.KafkaBenchCommand;
import io.mistralflink.job.cli.ProduceCommand;
import io.mistralflink.job.cli.RunCommand;
import io.mistralflink.job.cli.ScoreCommand;
import io.mistralflink.job.cli.SqlCommand;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.ModelException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code bin/mistral-flink COMMAND [options]}: the engine alone (generate, score, bench) and the Flink job.
 * The commands are picocli commands in {@code io.mistralflink.job.cli}, their usage generated from their
 * annotations ({@code --help}); a bad argument ends with one line on stderr and status 2, a failure with
 * one line and status 1.
 */
@Command(name = "mistral-flink", mixinStandardHelpOptions = true, version = "mistral-flink 0.1.0", showDefaultValues = true,
        sortOptions = false, scope = CommandLine.ScopeType.INHERIT, usageHelpAutoWidth = true,
        description = "Mistral and Mixtral inference as an Apache Flink job (README.md, docs/*.md)",
        subcommands = {GenerateCommand.class, ScoreCommand.class, BenchCommand.class, BatchCommand.class, EvalCommand.class,
                BenchPipelineCommand.class, SqlCommand.class, BenchSqlCommand.class, RunCommand.class, ProduceCommand.class,
                ConsumeCommand.class, DemoCommand.class, KafkaBenchCommand.class, ClusterCommand.class, CommandLine.HelpCommand.class})
public final class Cli {
    private Cli() {}

    public static void main(String[] argv) {
        int code;
        try {
            code = run(argv, System.out);
        } catch (UsageException e) {
            System.err.println("mistral-flink: " + e.getMessage());
            code = 2;
        } catch (OutOfMemoryError e) {
            System.err.println("mistral-flink: " + outOfMemory(argv));
            code = 1;
        } catch (ModelException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("mistral-flink: " + e.getMessage());
            code = 1;
        } catch (Exception e) {
            System.err.println("mistral-flink: " + e);
            code = 1;
        }
        System.out.flush();
        System.exit(code);
    }

    /** The command line of every command, its values typed by the converters whose messages end the one-line errors. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Cli());
        cl.setExpandAtFiles(false);              // a prompt may start with @
        cl.setOverwrittenOptionsAllowed(true);   // the last of a repeated option wins
        // the rest of the line is Flink's client's, or CudaBench's
        for (CommandLine passThrough : List.of(cl.getSubcommands().get("cluster").getSubcommands().get("flink"),
                cl.getSubcommands().get("bench").getSubcommands().get("cuda")))
            passThrough.setStopAtPositional(true).setUnmatchedOptionsArePositionalParams(true);
        return io.mistralflink.job.cli.Converters.register(cl);
    }

    /** Runs one command; results on {@code out}, progress on stderr. A bad argument is a {@link UsageException}. */
    public static int run(String[] argv, PrintStream out) throws Exception { return run(argv, out, System.err); }

    /** Runs one command; results on {@code out}, progress and notes on {@code err}. */
    public static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
        CommandLine cl = commandLine();
        PrintWriter writer = new PrintWriter(out, true);
        cl.setOut(writer);
        if (argv.length == 0) {
            cl.usage(writer);
            writer.flush();
            return 2;
        }
        ParseResult parsed;
        try {
            parsed = cl.parseArgs(argv);
        } catch (ParameterException e) {
            throw oneLine(e, argv);
        }
        if (CommandLine.printHelpIfRequested(parsed)) {
            writer.flush();
            return 0;
        }
        while (parsed.hasSubcommand()) parsed = parsed.subcommand();
        if (!(parsed.commandSpec().userObject() instanceof CliCommand command)) {
            cl.usage(writer);
            writer.flush();
            return 2;
        }
        return command.writingTo(out, err).call();
    }

    /** The command {@code argv} selects, its options set, not run (for a test that builds what it would run). */
    public static CliCommand parse(String... argv) {
        CommandLine cl = commandLine();
        ParseResult parsed;
        try {
            parsed = cl.parseArgs(argv);
        } catch (ParameterException e) {
            throw oneLine(e, argv);
        }
        while (parsed.hasSubcommand()) parsed = parsed.subcommand();
        return (CliCommand) parsed.commandSpec().userObject();
    }

    /** picocli's parse errors as the one line the CLI prints: {@code generate: --model is required}. */
    static UsageException oneLine(ParameterException e, String[] argv) {
        String name = e.getCommandLine().getCommandSpec().qualifiedName(" ");
        name = name.contains(" ") ? name.substring(name.indexOf(' ') + 1) : "";
        String prefix = name.isEmpty() ? "" : name + ": ";
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().getFirst();
            if (first.startsWith("-")) return new UsageException(prefix + "unknown option " + first.split("=", 2)[0]);
            if (name.isEmpty()) return new UsageException("unknown command '" + first + "' (mistral-flink --help lists the commands)");
            return new UsageException(prefix + "unexpected argument '" + first + "'");
        }
        if (e instanceof CommandLine.MissingParameterException m && !m.getMissing().isEmpty() && m.getMissing().getFirst() instanceof OptionSpec o) {
            boolean given = Arrays.stream(argv).anyMatch(a -> Arrays.asList(o.names()).contains(a.split("=", 2)[0]));
            return new UsageException(prefix + o.longestName() + (given ? " needs a value" : " is required"));
        }
        ArgSpec arg = e.getArgSpec();
        if (e.getCause() instanceof CommandLine.TypeConversionException t && arg instanceof OptionSpec o)
            return new UsageException(prefix + o.longestName() + " " + t.getMessage());
        return new UsageException(prefix + e.getMessage());
    }

    /** Options whose values size what a command holds in memory, in the order to look at them. */
    private static final List<String> MEMORY_OPTIONS = List.of("layers", "batch-sizes", "prompt-tokens", "new-tokens", "max-new-tokens",
            "sequences-per-lane", "lanes", "max-batch-tokens", "parallelism", "stages", "count", "requests", "max-tokens", "threads");

    /** One line for an OutOfMemoryError: the heap, the options that drove it, and how to get more. */
    static String outOfMemory(String[] argv) {
        List<String> given = new ArrayList<>();
        for (int i = 1; i + 1 < argv.length; i++)
            if (argv[i].startsWith("--") && MEMORY_OPTIONS.contains(argv[i].substring(2))) given.add(argv[i] + " " + argv[i + 1]);
        long heap = Runtime.getRuntime().maxMemory() >> 20;
        return "out of memory (a heap of " + heap + " MB)" + (given.isEmpty() ? "" : ": lower " + String.join(" or ", given))
                + ", or give the JVM more (MISTRAL_FLINK_JAVA_OPTS=-Xmx...)";
    }
}
