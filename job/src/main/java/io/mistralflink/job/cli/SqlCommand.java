package io.mistralflink.job.cli;

import io.mistralflink.sql.SqlRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code sql (-e "STATEMENTS" | -f FILE) [--json]}: the statements in order on a local MiniCluster, the rows
 * of the last one on stdout ({@link SqlRunner}). The Kafka connector, the filesystem connector, the json,
 * avro and raw formats and {@code io.mistralflink.job.kafka.GenerationRequestFunction} are on the classpath.
 */
@Command(name = "sql", description = "Flink SQL on a local MiniCluster, the rows of the last statement printed; "
        + "CREATE MODEL ... WITH ('provider' = 'mistral-flink') and ML_PREDICT: see docs/sql.md")
public final class SqlCommand extends CliCommand {
    @Option(names = {"-e", "--execute"}, paramLabel = "STATEMENTS", description = "the statements, separated by ;")
    String inline;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "the statements, from a file")
    Path file;

    @Option(names = "--json", description = "one JSON object per row")
    boolean json;

    @Override public Integer call() {
        if ((inline == null) == (file == null)) throw usage("give exactly one of -e \"STATEMENTS\" and -f FILE");
        String script = inline;
        if (file != null) {
            try { script = Files.readString(file); }
            catch (IOException e) { throw usage("-f " + file + ": cannot be read (" + e.getMessage() + ")"); }
        }
        try {
            SqlRunner.run(script, json, out);
        } catch (SqlRunner.StatementException e) {
            throw new IllegalArgumentException("sql: " + e.getMessage(), e);
        }
        return 0;
    }
}
