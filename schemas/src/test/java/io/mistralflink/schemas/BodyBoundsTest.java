package io.mistralflink.schemas;

import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Lengths a body declares are checked against the bytes it has before Avro allocates them. */
class BodyBoundsTest {

    /**
     * A GenerationRequest of 49 bytes: a valid header and fields up to {@code stop_token_ids}, which
     * declares a block of two billion ints (Avro's decoder would allocate a list of that size).
     */
    static byte[] twoBillionStopTokenIds() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] real = WireCodec.encode(Samples.request());
        out.write(real, 0, RecordCodec.HEADER_LENGTH);
        BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
        e.writeString("poison");                 // request_id
        e.writeIndex(1); e.writeString("The jury said that"); // prompt
        e.writeIndex(0);                         // messages: null
        e.writeInt(8);                           // max_new_tokens
        for (int i = 0; i < 4; i++) e.writeIndex(0); // temperature, top_p, top_k, seed: null
        e.writeLong(0);                          // stop: empty
        e.writeLong(2_000_000_000L);             // stop_token_ids: a block of 2e9 items, and nothing after
        e.flush();
        return out.toByteArray();
    }

    @Test void aCollectionLongerThanTheRecordIsCorruptBeforeAnythingIsAllocated() throws IOException {
        byte[] poison = twoBillionStopTokenIds();
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
        byte[] bytes = WireCodec.encode(r);
        byte[] marker = "XX".getBytes(StandardCharsets.UTF_8);
        int at = indexOf(bytes, marker);
        bytes[at] = (byte) 0xC3; // a lead byte followed by '(' : malformed
        bytes[at + 1] = '(';
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(bytes));
        assertEquals(WireFormatException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains("not valid UTF-8"), e.getMessage());
    }

    @Test void everySampleStillDecodes() {
        assertEquals(Samples.request(), WireCodec.decodeRequest(WireCodec.encode(Samples.request())));
        assertEquals(Samples.deadLetter(), WireCodec.decodeDeadLetter(WireCodec.encode(Samples.deadLetter())));
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
