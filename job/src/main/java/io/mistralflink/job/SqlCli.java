package io.mistralflink.job;

import io.mistralflink.sql.SqlRunner;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code sql (-e "STATEMENTS" | -f FILE) [--json]}: the statements in order on a local MiniCluster, the rows
 * of the last one on stdout ({@link SqlRunner}). The Kafka connector, the filesystem connector, the json,
 * avro and raw formats and {@code io.mistralflink.job.kafka.GenerationRequestFunction} are on the classpath.
 */
final class SqlCli {
    static final String USAGE = "sql      (-e \"STATEMENTS\" | -f FILE) [--json]";

    private SqlCli() {}

    static int run(String[] argv, PrintStream out) {
        String inline = null, file = null;
        boolean json = false;
        for (int i = 1; i < argv.length; i++) {
            String a = argv[i];
            switch (a) {
                case "-e", "--execute" -> inline = value(argv, ++i, a);
                case "-f", "--file" -> file = value(argv, ++i, a);
                case "--json" -> json = true;
                default -> throw new Args.UsageException("sql: unexpected argument '" + a + "'\nusage: mistral-flink " + USAGE);
            }
        }
        if ((inline == null) == (file == null)) throw new Args.UsageException("sql: give exactly one of -e \"STATEMENTS\" and -f FILE");
        String script = inline;
        if (file != null) {
            try { script = Files.readString(Path.of(file)); }
            catch (IOException e) { throw new Args.UsageException("sql: -f " + file + ": cannot be read (" + e.getMessage() + ")"); }
        }
        try {
            SqlRunner.run(script, json, out);
        } catch (SqlRunner.StatementException e) {
            throw new IllegalArgumentException("sql: " + e.getMessage(), e);
        }
        return 0;
    }

    private static String value(String[] argv, int i, String option) {
        if (i >= argv.length) throw new Args.UsageException("sql: " + option + " needs a value");
        return argv[i];
    }
}
