package io.mistralflink.job.batch;

import io.mistralflink.job.common.UsageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** What --resume reads from an interrupted run's output. */
class BoundedRunTest {
    @TempDir Path tmp;

    @Test void completeLinesAreAnsweredATornLastLineIsCut() throws Exception {
        Path out = tmp.resolve("out.jsonl");
        Files.writeString(out, "{\"request_id\": \"a\", \"text\": \"x\"}\n\n{\"request_id\": \"b\", \"error\": \"refused\"}\n{\"request_id\": \"c\", \"te");
        assertEquals(Set.of("a", "b"), BoundedRun.answered(out, "request_id"));
        assertEquals("{\"request_id\": \"a\", \"text\": \"x\"}\n\n{\"request_id\": \"b\", \"error\": \"refused\"}\n",
                Files.readString(out, StandardCharsets.UTF_8), "the torn line is gone, the rest kept byte for byte");
        assertEquals(Set.of("a", "b"), BoundedRun.answered(out, "request_id"), "reading again changes nothing");
    }

    @Test void anOutputThatIsNotOursIsRefusedNamingTheFile() throws Exception {
        Path notJson = tmp.resolve("notjson.jsonl"), noId = tmp.resolve("noid.jsonl");
        Files.writeString(notJson, "{\"request_id\": \"a\"}\nhello\n");
        Files.writeString(noId, "{\"id\": \"a\"}\n");
        UsageException e1 = assertThrows(UsageException.class, () -> BoundedRun.answered(notJson, "request_id"));
        assertTrue(e1.getMessage().contains("notjson.jsonl") && e1.getMessage().contains("not JSON"), e1.getMessage());
        UsageException e2 = assertThrows(UsageException.class, () -> BoundedRun.answered(noId, "request_id"));
        assertTrue(e2.getMessage().contains("noid.jsonl") && e2.getMessage().contains("\"request_id\""), e2.getMessage());
        assertEquals("{\"id\": \"a\"}\n", Files.readString(noId), "a refused output is left as it was");
    }
}
