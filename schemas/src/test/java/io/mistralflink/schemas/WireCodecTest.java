package io.mistralflink.schemas;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class WireCodecTest {

    @Test
    void roundTripsEveryRecordType() {
        GenerationRequest r = Samples.request();
        assertEquals(r, WireCodec.decodeRequest(WireCodec.encode(r)));
        GenerationRequest min = Samples.minimalRequest();
        GenerationRequest minBack = WireCodec.decodeRequest(WireCodec.encode(min));
        assertEquals(min, minBack);
        assertNull(minBack.getMessages());
        assertEquals(List.of(), minBack.getStop());
        assertEquals(Map.of(), minBack.getMetadata());
        assertFalse(minBack.getIgnoreEos());
        Completion c = Samples.completion();
        assertEquals(c, WireCodec.decodeCompletion(WireCodec.encode(c)));
        DeadLetter d = Samples.deadLetter();
        assertEquals(d, WireCodec.decodeDeadLetter(WireCodec.encode(d)));
    }

    @Test
    void headerIsSingleObjectEncodingWithCurrentFingerprint() throws Exception {
        byte[] bytes = WireCodec.encode(Samples.request());
        assertEquals((byte) 0xC3, bytes[0]);
        assertEquals((byte) 0x01, bytes[1]);
        long fp = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(RecordCodec.fingerprint(GenerationRequest.getClassSchema()), fp);
        // interoperable with Avro's own decoder of the generated class
        assertEquals(Samples.request(), GenerationRequest.getDecoder().decode(bytes, null));
    }

    @Test
    void decodesBytesOfEveryCommittedPreviousVersion() throws Exception {
        for (RecordCodec<?> codec : WireCodec.all()) {
            assertFalse(codec.previousSchemas().isEmpty(), codec.name() + " has no committed history");
            for (Schema old : codec.previousSchemas()) {
                GenericRecord rec = fill(old);
                byte[] bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), old).encode(rec).array();
                Object decoded = codec.decode(bytes);
                assertInstanceOf(codec.type(), decoded);
                // every field the old writer had survives; new fields get their defaults
                var specific = (org.apache.avro.specific.SpecificRecordBase) decoded;
                for (Schema.Field f : old.getFields()) {
                    assertEquals(String.valueOf(rec.get(f.name())), String.valueOf(specific.get(f.name())),
                            codec.name() + "." + f.name());
                }
            }
        }
        // the concrete defaults of the v2 additions
        Schema v1 = WireCodec.REQUEST.previousSchemas().get(0);
        GenericRecord old = fill(v1);
        GenerationRequest r = WireCodec.decodeRequest(
                new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(old).array());
        assertEquals(List.of(), r.getStopTokenIds());
        // v3's min_p: a request written before it has none (sampling without min_p, as then)
        Schema v2 = WireCodec.REQUEST.previousSchemas().get(1);
        GenericRecord beforeMinP = fill(v2);
        beforeMinP.put("top_p", 0.9f);
        GenerationRequest r2 = WireCodec.decodeRequest(new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v2).encode(beforeMinP).array());
        assertNull(r2.getMinP());
        assertEquals(0.9f, r2.getTopP());
        Schema cv1 = WireCodec.COMPLETION.previousSchemas().get(0);
        Completion c = WireCodec.decodeCompletion(
                new BinaryMessageEncoder<GenericRecord>(GenericData.get(), cv1).encode(fill(cv1)).array());
        assertEquals(Map.of(), c.getMetadata());
        Schema dv1 = WireCodec.DEAD_LETTER.previousSchemas().get(0);
        DeadLetter d = WireCodec.decodeDeadLetter(
                new BinaryMessageEncoder<GenericRecord>(GenericData.get(), dv1).encode(fill(dv1)).array());
        assertNull(d.getOffset());
    }

    @Test
    void oldReadersDecodeTodaysBytes() throws Exception {
        for (RecordCodec<?> codec : WireCodec.all()) {
            for (Schema old : codec.previousSchemas()) {
                BinaryMessageDecoder<GenericRecord> oldReader = new BinaryMessageDecoder<>(GenericData.get(), old);
                oldReader.addSchema(codec.currentSchema());
                byte[] bytes = encodeSample(codec);
                GenericRecord rec = oldReader.decode(bytes);
                assertNotNull(rec.get(old.getFields().get(0).name()));
            }
        }
        Schema v1 = WireCodec.REQUEST.previousSchemas().get(0);
        BinaryMessageDecoder<GenericRecord> oldReader = new BinaryMessageDecoder<>(GenericData.get(), v1);
        oldReader.addSchema(GenerationRequest.getClassSchema());
        GenericRecord rec = oldReader.decode(WireCodec.encode(Samples.request()));
        assertEquals("req-1", rec.get("request_id").toString());
        assertEquals(32, rec.get("max_new_tokens"));
        assertNull(rec.getSchema().getField("stop_token_ids"));
        // a v2 reader (before min_p) reads a request with min_p, without it
        BinaryMessageDecoder<GenericRecord> v2Reader = new BinaryMessageDecoder<>(GenericData.get(), WireCodec.REQUEST.previousSchemas().get(1));
        v2Reader.addSchema(GenerationRequest.getClassSchema());
        assertEquals(0.05f, Samples.request().getMinP());
        GenericRecord r2 = v2Reader.decode(WireCodec.encode(Samples.request()));
        assertEquals(0.9f, r2.get("top_p"));
        assertNull(r2.getSchema().getField("min_p"));
    }

    @Test
    void rejectsNonAvroBytesClearly() {
        for (byte[] junk : List.of(new byte[0], "{\"prompt\":\"hi\"}".getBytes(StandardCharsets.UTF_8),
                new byte[] {(byte) 0xC3}, new byte[] {(byte) 0xC3, 0x01, 1, 2, 3})) {
            WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(junk));
            assertEquals(WireFormatException.Kind.NOT_AVRO, e.kind(), e.getMessage());
            assertTrue(e.getMessage().startsWith("not Avro single-object encoded"), e.getMessage());
        }
        WireFormatException e = assertThrows(WireFormatException.class,
                () -> WireCodec.decodeRequest("hello world".getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("68 65 6C 6C 6F"), e.getMessage());
    }

    @Test
    void rejectsUnknownFingerprint() {
        byte[] bytes = WireCodec.encode(Samples.request());
        bytes[5] ^= 0x5A;
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(bytes));
        assertEquals(WireFormatException.Kind.UNKNOWN_SCHEMA, e.kind());
        assertTrue(e.getMessage().startsWith("unknown schema fingerprint 0x"), e.getMessage());
        assertTrue(e.getMessage().contains("v1 0x") && e.getMessage().contains("(current)"), e.getMessage());
    }

    @Test
    void rejectsAnotherRecordType() {
        byte[] bytes = WireCodec.encode(Samples.completion());
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(bytes));
        assertEquals(WireFormatException.Kind.WRONG_RECORD_TYPE, e.kind());
        assertEquals("record is a Completion v2 (current) (fingerprint "
                + RecordCodec.hex(RecordCodec.fingerprint(Completion.getClassSchema()))
                + "), expected a GenerationRequest", e.getMessage());
    }

    @Test
    void rejectsCorruptBody() {
        byte[] full = WireCodec.encode(Samples.request());
        byte[] truncated = Arrays.copyOf(full, 14);
        WireFormatException e = assertThrows(WireFormatException.class, () -> WireCodec.decodeRequest(truncated));
        assertEquals(WireFormatException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().startsWith("corrupt GenerationRequest v3 (current) body"), e.getMessage());
    }

    @Test
    void encodingAnIncompleteRecordFailsLoudly() {
        GenerationRequest r = Samples.minimalRequest();
        r.setRequestId(null);
        assertThrows(IllegalArgumentException.class, () -> WireCodec.encode(r));
    }

    private static byte[] encodeSample(RecordCodec<?> codec) {
        return switch (codec.name()) {
            case "GenerationRequest" -> WireCodec.encode(Samples.request());
            case "Completion" -> WireCodec.encode(Samples.completion());
            case "DeadLetter" -> WireCodec.encode(Samples.deadLetter());
            default -> throw new AssertionError(codec.name());
        };
    }

    /** A generic record of the schema with every field set to a non-default sample value. */
    static GenericRecord fill(Schema schema) {
        GenericRecordBuilder b = new GenericRecordBuilder(schema);
        for (Schema.Field f : schema.getFields()) {
            b.set(f, sample(f.schema(), f.name()));
        }
        return b.build();
    }

    private static Object sample(Schema s, String name) {
        return switch (s.getType()) {
            case STRING -> name + "-value";
            case INT -> 7;
            case LONG -> 9L;
            case FLOAT -> 0.5f;
            case DOUBLE -> 0.25;
            case BOOLEAN -> true;
            case BYTES -> ByteBuffer.wrap(new byte[] {9, 8, 7});
            case ARRAY -> List.of(sample(s.getElementType(), name));
            case MAP -> Map.of("k", sample(s.getValueType(), name));
            case RECORD -> fill(s);
            case UNION -> sample(s.getTypes().stream().filter(t -> t.getType() != Schema.Type.NULL).findFirst().orElseThrow(), name);
            default -> throw new AssertionError(s);
        };
    }
}
