package io.mistralflink.schemas;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every current wire schema must be backward compatible (today's reader reads old writers' bytes)
 * and forward compatible (old readers read today's bytes) with every committed previous version.
 */
class SchemaCompatibilityTest {

    /** How many previous versions are committed per record (v1 .. vN). */
    private static final Map<String, Integer> EXPECTED_HISTORY_SIZE =
            Map.of("GenerationRequest", 2, "Completion", 1, "DeadLetter", 2);

    @Test
    void currentIsBackwardAndForwardCompatibleWithEveryPreviousVersion() {
        for (RecordCodec<?> codec : WireCodec.all()) {
            Schema current = codec.currentSchema();
            assertFalse(codec.previousSchemas().isEmpty(), codec.name());
            for (int i = 0; i < codec.previousSchemas().size(); i++) {
                Schema old = codec.previousSchemas().get(i);
                String what = codec.name() + " current vs v" + (i + 1);
                var backward = SchemaCompatibility.checkReaderWriterCompatibility(current, old);
                assertEquals(SchemaCompatibilityType.COMPATIBLE, backward.getType(),
                        what + " (backward: new reader, old writer): " + backward.getResult().getIncompatibilities());
                var forward = SchemaCompatibility.checkReaderWriterCompatibility(old, current);
                assertEquals(SchemaCompatibilityType.COMPATIBLE, forward.getType(),
                        what + " (forward: old reader, new writer): " + forward.getResult().getIncompatibilities());
            }
        }
    }

    @Test
    void historyIsOrderedAndDistinct() {
        for (RecordCodec<?> codec : WireCodec.all()) {
            assertEquals(EXPECTED_HISTORY_SIZE.get(codec.name()), codec.previousSchemas().size(), codec.name());
            // every version has its own fingerprint (a history file equal to another, or to the current
            // schema, is a mistake), and every version is compatible with its successor
            assertEquals(codec.previousSchemas().size() + 1, codec.knownFingerprints().size(), codec.name());
            for (Schema old : codec.previousSchemas()) {
                assertEquals(codec.currentSchema().getFullName(), old.getFullName());
            }
        }
    }

    @Test
    void currentSchemasArePinned() {
        // If this fails you changed a wire schema: put the previous version into
        // schemas/src/main/avro-history/<Name>/v<N+1>.avsc, bump EXPECTED_HISTORY_SIZE, and update
        // the fingerprint here (printed in the failure message).
        assertPinned(GenerationRequest.getClassSchema(), PINNED.get("GenerationRequest"));
        assertPinned(Completion.getClassSchema(), PINNED.get("Completion"));
        assertPinned(DeadLetter.getClassSchema(), PINNED.get("DeadLetter"));
    }

    private static final Map<String, String> PINNED = Map.of(
            "GenerationRequest", "0xFE59583D352AF88A",
            "Completion", "0x155E6F649EFBF606",
            "DeadLetter", "0x1469BCABC8E76554");

    private static void assertPinned(Schema s, String expected) {
        String actual = RecordCodec.hex(RecordCodec.fingerprint(s));
        assertEquals(expected, actual, s.getName() + " changed: commit the previous version to avro-history and update the pin");
    }
}
