package io.mistralflink.schemas;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Lengths a body declares are checked against the bytes it has before Avro allocates them. */
class BodyBoundsTest {

    @Test void aCollectionLongerThanTheRecordIsCorruptBeforeAnythingIsAllocated() throws IOException {
        byte[] poison = CraftedRecords.twoBillionStopTokenIds();
        assertEquals(49, poison.length);
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(poison));
        assertEquals(WireFormatException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains("a collection block of 2000000000 items with 0 bytes left"), e.getMessage());
    }

    @Test void aStringLongerThanTheRecordIsCorrupt() {
        byte[] bytes = WireCodec.encode(Samples.request());
        // the request id's length (the body's first varint) claims 2^30 bytes
        byte[] longId = new byte[bytes.length + 4];
        System.arraycopy(bytes, 0, longId, 0, RecordCodec.HEADER_LENGTH);
        byte[] varint = {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08}; // zig-zag 2^31 -> 2^30
        System.arraycopy(varint, 0, longId, RecordCodec.HEADER_LENGTH, varint.length);
        System.arraycopy(bytes, RecordCodec.HEADER_LENGTH + 1, longId, RecordCodec.HEADER_LENGTH + varint.length, bytes.length - RecordCodec.HEADER_LENGTH - 1);
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(Arrays.copyOf(longId, longId.length - 1)));
        assertTrue(e.getMessage().contains("a string of length 1073741824"), e.getMessage());
    }

    @Test void invalidUtf8InAStringIsRefusedNotReplaced() {
        GenerationRequest r = Samples.request();
        r.setPrompt("The jury said XX");
        byte[] bytes = CraftedRecords.invalidUtf8(r);
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(bytes));
        assertEquals(WireFormatException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains("not valid UTF-8"), e.getMessage());
    }

    @Test void everySampleStillDecodes() {
        assertEquals(Samples.request(), WireCodec.decodeRequest(WireCodec.encode(Samples.request())));
        assertEquals(Samples.deadLetter(), WireCodec.decodeDeadLetter(WireCodec.encode(Samples.deadLetter())));
    }
}
