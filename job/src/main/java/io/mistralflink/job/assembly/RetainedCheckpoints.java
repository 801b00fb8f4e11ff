package io.mistralflink.job.assembly;

import io.mistralflink.job.kafka.EmbeddedKafka;
import io.mistralflink.operators.pipeline.FailureLog;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Arrays;
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
 * The root may be on any file system Flink resolves ({@code file:///...}, or {@code s3://}, {@code hdfs://}
 * where the plugin is installed): it is listed through Flink's {@link FileSystem}.
 */
public final class RetainedCheckpoints {

    private static final Pattern CHECKPOINT = Pattern.compile("chk-(\\d+)");
    /** The directory Flink names after a job's id. */
    private static final Pattern JOB_ID = Pattern.compile("[0-9a-f]{32}");
    private static final String SAVEPOINTS = "savepoints";
    private static final String FAILURES = "failures";

    /** Qualified: {@code file:/...} for a local directory. */
    private final org.apache.flink.core.fs.Path location;

    /** The checkpoints of job {@code jobName} under the local directory {@code root}. */
    public RetainedCheckpoints(Path root, String jobName) {
        this(root.toAbsolutePath().normalize().toUri().toString(), jobName);
    }

    /** The checkpoints of job {@code jobName} under {@code root}: a local path, or the URI of any Flink file system. */
    public RetainedCheckpoints(String root, String jobName) {
        if (jobName.isBlank() || jobName.contains("/") || jobName.contains("..")) {
            throw new IllegalArgumentException("a job name must be a plain directory name: '" + jobName + "'");
        }
        org.apache.flink.core.fs.Path r = root.contains(":/") ? new org.apache.flink.core.fs.Path(URI.create(root).normalize())
                : new org.apache.flink.core.fs.Path(Path.of(root).toAbsolutePath().normalize().toUri());
        this.location = new org.apache.flink.core.fs.Path(r, jobName).makeQualified(fileSystem(r));
    }

    /** Where this job's checkpoints go: the URI of a directory on any Flink file system. */
    public String location() { return location.toString(); }

    /** The directory: its local path, or its URI on another file system. */
    @Override public String toString() { return shown(location); }

    /** Whether {@link #location()} is a local directory (then {@link #dir()} names it). */
    public boolean local() { return "file".equals(location.toUri().getScheme()); }

    /** The local directory this job's checkpoints go to. */
    public Path dir() {
        if (!local()) throw new IllegalStateException(location + " is not a local directory");
        return Path.of(location.toUri());
    }

    /** Where a stop with a savepoint puts it, so that {@link #latest()} finds it too. */
    public Path savepointDir() { return dir().resolve(SAVEPOINTS); }

    /** The job's {@link FailureLog}: the requests of steps that failed it, which a restore must not forget (local directories). */
    public Path failureLog() { return dir().resolve(FAILURES); }

    /**
     * Sets file-system checkpoint storage under {@link #location()}, retained on cancellation and failure,
     * and, for a local directory, the job's {@link #failureLog()}.
     */
    public Configuration configure(Configuration conf) {
        try {
            fileSystem(location).mkdirs(location);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the checkpoint directory " + location + ": " + e.getMessage(), e);
        }
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, local() ? dir().toUri().toString() : location.toString());
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 2);
        if (local()) {
            Map<String, String> parameters = new HashMap<>(conf.getOptional(PipelineOptions.GLOBAL_JOB_PARAMETERS).orElse(Map.of()));
            parameters.put(FailureLog.PARAMETER, failureLog().toString());
            conf.set(PipelineOptions.GLOBAL_JOB_PARAMETERS, parameters);
        }
        return conf;
    }

    /**
     * Like {@link #configure}, and restores from the latest complete checkpoint, if there is one.
     * Returns the checkpoint restored from (a local path, or a URI on another file system).
     */
    public Optional<String> configureResuming(Configuration conf) {
        configure(conf);
        Optional<org.apache.flink.core.fs.Path> latest = latestCheckpoint();
        latest.ifPresent(p -> {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, p.toUri().toString());
            // the stage state is cache handles only (caches are re-derived from the scheduler's tokens)
            conf.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        });
        return latest.map(RetainedCheckpoints::shown);
    }

    /**
     * A local MiniCluster's working files (BLOBs, uploads, the web UI's) in {@code tmp} beside the
     * checkpoints instead of the system's temporary directory, emptied now: a kill -9 leaves them
     * here, and the next start of this job clears them. Local checkpoint directories only. Returns
     * that directory (to be deleted when the cluster has stopped).
     */
    public Path localWorkingFiles(Configuration conf) {
        Path work = dir().resolve("tmp");
        EmbeddedKafka.deleteTree(work);
        conf.set(CoreOptions.TMP_DIRS, work.toString());
        conf.set(WebOptions.TMP_DIR, work.resolve("web").toString());
        return work;
    }

    /**
     * Deletes every checkpoint and savepoint of earlier runs of this job but {@code keep} (complete or
     * not): a job restored from {@code keep} in claim mode owns it, and Flink discards it once subsumed
     * or when the job finishes, so that a finished job leaves no checkpoint behind to be resumed from.
     */
    public void discardAllBut(org.apache.flink.core.fs.Path keep) {
        FileSystem fs = fileSystem(location);
        String kept = pathOf(keep);
        snapshots(fs).filter(s -> !pathOf(s.getPath()).equals(kept)).forEach(s -> delete(fs, s, "the old checkpoint"));
    }

    /** The latest complete checkpoint of any earlier run of this job (local checkpoint directories), if any. */
    public Optional<Path> latest() {
        return latestCheckpoint().map(p -> Path.of(p.toUri()));
    }

    /** The latest complete checkpoint of any earlier run of this job, on any file system, if any. */
    public Optional<org.apache.flink.core.fs.Path> latestCheckpoint() {
        FileSystem fs = fileSystem(location);
        return snapshots(fs)
                .map(chk -> new Complete(chk.getPath(), modified(fs, chk.getPath())))
                .filter(c -> c.modified != Long.MIN_VALUE)
                .max(Comparator.comparingLong(Complete::modified).thenComparingLong(c -> number(c.path())))
                .map(Complete::path);
    }

    /** Every {@code chk-<n>} and {@code savepoint-*} directory of this job, complete or not. */
    private Stream<FileStatus> snapshots(FileSystem fs) {
        return children(fs, location, FileStatus::isDir)
                .flatMap(d -> d.getPath().getName().equals(SAVEPOINTS)
                        ? children(fs, d.getPath(), s -> s.isDir() && s.getPath().getName().startsWith("savepoint-"))
                        : children(fs, d.getPath(), s -> s.isDir() && CHECKPOINT.matcher(s.getPath().getName()).matches()));
    }

    private record Complete(org.apache.flink.core.fs.Path path, long modified) {}

    /** The entries of {@code dir} that {@code keep} accepts (none, if it is missing or cannot be read: a run may be deleting it). */
    private static Stream<FileStatus> children(FileSystem fs, org.apache.flink.core.fs.Path dir, java.util.function.Predicate<FileStatus> keep) {
        try {
            FileStatus[] all = fs.exists(dir) ? fs.listStatus(dir) : null;
            return all == null ? Stream.empty() : Arrays.stream(all).filter(keep).toList().stream();
        } catch (FileNotFoundException e) {
            return Stream.empty();
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
        FileSystem fs = fileSystem(location);
        org.apache.flink.core.fs.Path own = new org.apache.flink.core.fs.Path(location, jobId);
        if (children(fs, own, s -> s.isDir() && CHECKPOINT.matcher(s.getPath().getName()).matches())
                .noneMatch(chk -> modified(fs, chk.getPath()) != Long.MIN_VALUE)) return false;
        children(fs, location, s -> s.isDir() && JOB_ID.matcher(s.getPath().getName()).matches() && !s.getPath().getName().equals(jobId))
                .forEach(s -> delete(fs, s, "the earlier job's checkpoints"));
        return true;
    }

    private static void delete(FileSystem fs, FileStatus s, String what) {
        try {
            fs.delete(s.getPath(), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + what + " " + s.getPath() + ": " + e.getMessage(), e);
        }
    }

    /** When the checkpoint's {@code _metadata} was written; {@link Long#MIN_VALUE} where it has none (in progress, torn). */
    private static long modified(FileSystem fs, org.apache.flink.core.fs.Path chk) {
        try {
            return fs.getFileStatus(new org.apache.flink.core.fs.Path(chk, "_metadata")).getModificationTime();
        } catch (IOException e) {
            return Long.MIN_VALUE;
        }
    }

    private static long number(org.apache.flink.core.fs.Path chk) {
        Matcher m = CHECKPOINT.matcher(chk.getName());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** A directory's path without the forms that differ ({@code file:/x}, {@code file:///x/}). */
    private static String pathOf(org.apache.flink.core.fs.Path p) {
        return p.toUri().normalize().getPath().replaceAll("/+$", "");
    }

    private static String shown(org.apache.flink.core.fs.Path p) {
        return "file".equals(p.toUri().getScheme()) ? Path.of(p.toUri()).toString() : p.toString();
    }

    private static FileSystem fileSystem(org.apache.flink.core.fs.Path p) {
        try {
            return p.getFileSystem();
        } catch (IOException e) {
            throw new IllegalArgumentException("no file system for " + p + ": " + e.getMessage(), e);
        }
    }
}
