package io.mistralflink.job;

import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.operators.pipeline.FailureLog;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Checkpoints that outlive the process: every durable promise of a job (exactly-once after a
 * SIGKILL, a bounded run resumed where it stopped) rests on a directory that Flink writes its
 * checkpoints to and keeps on cancellation and failure.
 *
 * <p>Layout, Flink's own: {@code ROOT/JOB_NAME/<job id>/chk-<n>/_metadata}, and savepoints taken on
 * a stop in {@code ROOT/JOB_NAME/savepoints/savepoint-<id>/_metadata}. A checkpoint is complete once
 * its {@code _metadata} file exists (Flink writes it last, by rename), so the latest complete one is
 * the {@code chk-<n>} or {@code savepoint-<id>} with a {@code _metadata} and the highest modification time.
 */
public final class RetainedCheckpoints {

    private static final Pattern CHECKPOINT = Pattern.compile("chk-(\\d+)");
    /** The directory Flink names after a job's id. */
    private static final Pattern JOB_ID = Pattern.compile("[0-9a-f]{32}");
    private static final String SAVEPOINTS = "savepoints";
    private static final String FAILURES = "failures";

    private final Path dir;

    /** The checkpoints of job {@code jobName} under {@code root}. */
    public RetainedCheckpoints(Path root, String jobName) {
        if (jobName.isBlank() || jobName.contains("/") || jobName.contains("..")) {
            throw new IllegalArgumentException("a job name must be a plain directory name: '" + jobName + "'");
        }
        this.dir = root.toAbsolutePath().normalize().resolve(jobName);
    }

    /** The directory this job's checkpoints go to. */
    public Path dir() { return dir; }

    /** Where a stop with a savepoint puts it, so that {@link #latest()} finds it too. */
    public Path savepointDir() { return dir.resolve(SAVEPOINTS); }

    /** The job's {@link FailureLog}: the requests of steps that failed it, which a restore must not forget. */
    public Path failureLog() { return dir.resolve(FAILURES); }

    /**
     * Sets file-system checkpoint storage under {@link #dir()}, retained on cancellation and failure,
     * and the job's {@link #failureLog()}.
     */
    public Configuration configure(Configuration conf) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the checkpoint directory " + dir + ": " + e.getMessage(), e);
        }
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir.toUri().toString());
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 2);
        Map<String, String> parameters = new HashMap<>(conf.getOptional(PipelineOptions.GLOBAL_JOB_PARAMETERS).orElse(Map.of()));
        parameters.put(FailureLog.PARAMETER, failureLog().toString());
        conf.set(PipelineOptions.GLOBAL_JOB_PARAMETERS, parameters);
        return conf;
    }

    /**
     * Like {@link #configure}, and restores from the latest complete checkpoint, if there is one.
     * Returns the checkpoint restored from.
     */
    public Optional<Path> configureResuming(Configuration conf) {
        configure(conf);
        Optional<Path> latest = latest();
        latest.ifPresent(p -> {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, p.toUri().toString());
            // the stage state is cache handles only (caches are re-derived from the scheduler's tokens)
            conf.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        });
        return latest;
    }

    /** The latest complete checkpoint of any earlier run of this job, if any. */
    public Optional<Path> latest() {
        if (!Files.isDirectory(dir)) return Optional.empty();
        try (Stream<Path> jobs = Files.list(dir)) {
            return jobs.filter(Files::isDirectory)
                    .flatMap(d -> d.getFileName().toString().equals(SAVEPOINTS)
                            ? children(d, name -> name.startsWith("savepoint-"))
                            : children(d, name -> CHECKPOINT.matcher(name).matches()))
                    .filter(chk -> Files.isRegularFile(chk.resolve("_metadata")))
                    .max(Comparator.comparingLong(RetainedCheckpoints::modified)
                            .thenComparingLong(RetainedCheckpoints::number));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the checkpoint directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Once job {@code jobId} has a complete checkpoint of its own, deletes the checkpoint directories of
     * the earlier jobs (processes) of this name; returns whether it has one. A restored job does not
     * claim what it restored from (Flink's default NO_CLAIM mode): its first checkpoint is complete in
     * itself, so until then the directory it restored from stays, and after it nothing needs it.
     * Savepoints stay (the user's).
     */
    public boolean pruneEarlierJobs(String jobId) {
        if (children(dir.resolve(jobId), name -> CHECKPOINT.matcher(name).matches())
                .noneMatch(chk -> Files.isRegularFile(chk.resolve("_metadata")))) return false;
        children(dir, name -> JOB_ID.matcher(name).matches() && !name.equals(jobId)).forEach(EmbeddedKafka::deleteTree);
        return true;
    }

    /** The entries of {@code dir} whose names {@code named} accepts (none, if it cannot be read: a run may be deleting it). */
    private static Stream<Path> children(Path dir, java.util.function.Predicate<String> named) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> named.test(p.getFileName().toString())).toList().stream();
        } catch (IOException e) {
            return Stream.empty();
        }
    }

    private static long modified(Path chk) {
        try {
            return Files.getLastModifiedTime(chk.resolve("_metadata")).toMillis();
        } catch (IOException e) {
            return Long.MIN_VALUE;
        }
    }

    private static long number(Path chk) {
        Matcher m = CHECKPOINT.matcher(chk.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }
}
