package io.mistralflink.job;

import io.mistralflink.job.assembly.RetainedCheckpoints;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.*;

class RetainedCheckpointsTest {

    @TempDir Path root;

    private Path checkpoint(String job, String jobId, int n, long modifiedMs, boolean complete) throws Exception {
        Path chk = Files.createDirectories(root.resolve(job).resolve(jobId).resolve("chk-" + n));
        if (complete) {
            Path md = Files.writeString(chk.resolve("_metadata"), "x");
            Files.setLastModifiedTime(md, FileTime.fromMillis(modifiedMs));
        }
        return chk;
    }

    @Test
    void latestIsTheNewestCompleteCheckpointOfAnyEarlierRun() throws Exception {
        RetainedCheckpoints cps = new RetainedCheckpoints(root, "run");
        assertEquals(Optional.empty(), cps.latest());
        checkpoint("run", "a1", 7, 1_000, true);
        Path newest = checkpoint("run", "b2", 2, 5_000, true);   // a later run: lower number, newer
        checkpoint("run", "b2", 3, 0, false);                     // in progress: no _metadata
        checkpoint("other", "c3", 9, 9_000, true);                // another job's
        Files.createDirectories(root.resolve("run").resolve("b2").resolve("shared"));
        assertEquals(Optional.of(newest), cps.latest());
    }

    @Test
    void aSavepointOfAStopInTheJobsDirectoryCountsAsItsLatest() throws Exception {
        RetainedCheckpoints cps = new RetainedCheckpoints(root, "run");
        checkpoint("run", "a1", 7, 1_000, true);
        Path sp = Files.createDirectories(cps.savepointDir().resolve("savepoint-a1b2c3-0123456789ab"));
        assertEquals(Optional.of(root.resolve("run").resolve("a1").resolve("chk-7")), cps.latest(), "a savepoint without _metadata is torn");
        Files.setLastModifiedTime(Files.writeString(sp.resolve("_metadata"), "x"), FileTime.fromMillis(2_000));
        assertEquals(Optional.of(sp), cps.latest());
        Path later = checkpoint("run", "d4", 1, 3_000, true); // a run resumed from it has checkpointed since
        assertEquals(Optional.of(later), cps.latest());
    }

    @Test
    void configureRetainsAndResumingRestoresTheLatest() throws Exception {
        RetainedCheckpoints cps = new RetainedCheckpoints(root, "run");
        Configuration fresh = new Configuration();
        assertEquals(Optional.empty(), cps.configureResuming(fresh));
        assertEquals(ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION, fresh.get(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION));
        assertEquals(root.resolve("run").toUri().toString(), fresh.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY));
        assertFalse(fresh.contains(StateRecoveryOptions.SAVEPOINT_PATH));
        Path chk = checkpoint("run", "a1", 4, 1_000, true);
        Configuration resumed = new Configuration();
        assertEquals(Optional.of(chk.toString()), cps.configureResuming(resumed));
        assertEquals(chk, Path.of(java.net.URI.create(resumed.get(StateRecoveryOptions.SAVEPOINT_PATH))));
    }

    @Test
    void aRootGivenAsTheUriOfAFlinkFileSystemIsTheSameDirectory() throws Exception {
        RetainedCheckpoints cps = new RetainedCheckpoints(root.toUri().toString(), "run");
        assertEquals(root.resolve("run"), cps.dir());
        assertEquals(Optional.empty(), cps.latestCheckpoint());
        Path chk = checkpoint("run", "a1", 4, 1_000, true);
        checkpoint("run", "a1", 5, 2_000, false);
        assertEquals(Optional.of(chk), cps.latest());
        Configuration resumed = new Configuration();
        assertEquals(Optional.of(chk.toString()), cps.configureResuming(resumed));
        assertEquals(root.resolve("run").toUri().toString(), resumed.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY));
    }

    @Test
    void discardingAllButOneLeavesThatOneAndTheJobsOtherFiles() throws Exception {
        RetainedCheckpoints cps = new RetainedCheckpoints(root, "run");
        Path older = checkpoint("run", "a1", 3, 1_000, true);
        Path kept = checkpoint("run", "a1", 4, 2_000, true);
        Path torn = checkpoint("run", "b2", 1, 0, false);
        Path other = checkpoint("other", "c3", 9, 9_000, true);
        Path shared = Files.createDirectories(root.resolve("run").resolve("a1").resolve("shared"));
        cps.discardAllBut(new org.apache.flink.core.fs.Path(kept.toUri()));
        assertFalse(Files.exists(older));
        assertFalse(Files.exists(torn));
        assertTrue(Files.exists(kept.resolve("_metadata")) && Files.exists(other) && Files.exists(shared));
        assertEquals(Optional.of(kept), cps.latest());
    }

    @Test
    void earlierJobsArePrunedOnlyOnceTheCurrentJobHasACompleteCheckpoint() throws Exception {
        RetainedCheckpoints cps = new RetainedCheckpoints(root, "run");
        String old = "0123456789abcdef0123456789abcdef", restoredFrom = "fedcba9876543210fedcba9876543210", now = "00000000000000000000000000000001";
        checkpoint("run", old, 3, 1_000, true);
        Path from = checkpoint("run", restoredFrom, 8, 2_000, true);
        Path sp = Files.createDirectories(cps.savepointDir().resolve("savepoint-a1b2c3-0123456789ab"));
        Files.writeString(sp.resolve("_metadata"), "x");
        Files.createDirectories(cps.failureLog());
        Files.createDirectories(root.resolve("run").resolve("tmp"));
        checkpoint("run", now, 1, 3_000, false); // its first checkpoint is in progress
        assertFalse(cps.pruneEarlierJobs(now));
        assertTrue(Files.isDirectory(from), "the checkpoint restored from stays until the job has one of its own");
        checkpoint("run", now, 1, 3_000, true);
        assertTrue(cps.pruneEarlierJobs(now));
        try (var left = Files.list(root.resolve("run"))) {
            assertEquals(java.util.Set.of(now, "savepoints", "failures", "tmp"), left.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
        assertTrue(Files.isRegularFile(sp.resolve("_metadata")), "savepoints stay");
    }

    @Test
    void aJobNameThatLeavesTheRootIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new RetainedCheckpoints(root, "../x"));
        assertThrows(IllegalArgumentException.class, () -> new RetainedCheckpoints(root, " "));
    }
}
