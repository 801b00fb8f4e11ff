package io.mistralflink.job.kafka;

import io.mistralflink.schemas.Completion;
import io.mistralflink.schemas.DeadLetter;
import io.mistralflink.schemas.GenerationRequest;
import io.mistralflink.schemas.Timings;
import io.mistralflink.schemas.WireCodec;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.*;

/** The pure core of {@link DecodeRequests}; the Flink path is covered by {@link KafkaPipelineTest}. */
class DecodeRequestsTest {

    private final RequestValidator validator = new RequestValidator(100)
            .withCheck(r -> "boom".equals(r.getPrompt()) ? Optional.of(String.valueOf(1 / (r.getMaxNewTokens() - r.getMaxNewTokens()))) : Optional.empty());

    private DecodeRequests.Outcome run(byte[] value) {
        return DecodeRequests.decodeAndValidate(new RawRecord("prompts", 3, 77L, 1L, null, value), validator);
    }

    private DeadLetter dead(byte[] value, String reasonPrefix) {
        DecodeRequests.Outcome o = run(value);
        assertNull(o.request());
        DeadLetter d = o.deadLetter();
        assertTrue(d.getReason().startsWith(reasonPrefix), d.getReason());
        assertEquals("prompts", d.getTopic());
        assertEquals(3, d.getPartition());
        assertEquals(77L, d.getOffset());
        byte[] original = new byte[d.getOriginal().remaining()];
        d.getOriginal().duplicate().get(original);
        assertArrayEquals(value == null ? new byte[0] : value, original);
        return d;
    }

    @Test
    void goodRequestPasses() {
        GenerationRequest r = RequestValidatorTest.req(b -> {});
        DecodeRequests.Outcome o = run(WireCodec.encode(r));
        assertEquals(r, o.request());
        assertNull(o.deadLetter());
    }

    @Test
    void everyKindOfBadRecordBecomesADeadLetter() {
        assertNull(dead("hello".getBytes(StandardCharsets.UTF_8), "not_avro: ").getRequestId());
        dead(null, "not_avro: not Avro single-object encoded: empty value");
        byte[] unknown = WireCodec.encode(RequestValidatorTest.req(b -> {}));
        unknown[9] ^= 1;
        dead(unknown, "unknown_schema: unknown schema fingerprint");
        Completion c = Completion.newBuilder().setRequestId("c").setText("").setCompletionIds(List.of()).setFinishReason("stop")
                .setPromptTokens(1).setCompletionTokens(0).setTimings(new Timings(0L, 0L, 0L)).setModel("m").build();
        dead(WireCodec.encode(c), "wrong_record_type: record is a Completion");
        byte[] good = WireCodec.encode(RequestValidatorTest.req(b -> {}));
        dead(Arrays.copyOf(good, 13), "corrupt: ");
        DeadLetter invalid = dead(WireCodec.encode(RequestValidatorTest.req(b -> b.setMaxNewTokens(101))),
                "invalid_request: max_new_tokens is 101, above the limit of 100");
        assertEquals("r1", invalid.getRequestId());
        dead(WireCodec.encode(RequestValidatorTest.req(b -> b.setPrompt("boom"))), "check_failed: a validation check threw java.lang.ArithmeticException");
    }

    @Test
    void flinkTypesAreAvroAndPojoNotKryo() throws Exception {
        assertInstanceOf(org.apache.flink.api.java.typeutils.PojoTypeInfo.class,
                org.apache.flink.api.common.typeinfo.TypeInformation.of(RawRecord.class));
        assertInstanceOf(org.apache.flink.formats.avro.typeutils.AvroTypeInfo.class, DecodeRequests.DEAD_LETTERS.getTypeInfo());
        // the Avro serializer Flink uses between tasks round-trips our records
        var config = new org.apache.flink.api.common.serialization.SerializerConfigImpl();
        var ser = new org.apache.flink.formats.avro.typeutils.AvroTypeInfo<>(GenerationRequest.class).createSerializer(config);
        GenerationRequest r = RequestValidatorTest.req(b -> b.setTemperature(0.3f).setMetadata(java.util.Map.of("k", "v")));
        var out = new org.apache.flink.core.memory.DataOutputSerializer(256);
        ser.serialize(r, out);
        assertEquals(r, ser.deserialize(new org.apache.flink.core.memory.DataInputDeserializer(out.getCopyOfBuffer())));
        var dlSer = DecodeRequests.DEAD_LETTERS.getTypeInfo().createSerializer(config);
        DeadLetter d = run("x".getBytes(StandardCharsets.UTF_8)).deadLetter();
        out.clear();
        dlSer.serialize(d, out);
        assertEquals(d, dlSer.deserialize(new org.apache.flink.core.memory.DataInputDeserializer(out.getCopyOfBuffer())));
    }

    @Test
    void deadLettersEncode() {
        DeadLetter d = run("x".getBytes(StandardCharsets.UTF_8)).deadLetter();
        assertEquals(d, WireCodec.decodeDeadLetter(WireCodec.encode(d)));
        assertEquals(ByteBuffer.wrap("x".getBytes(StandardCharsets.UTF_8)), d.getOriginal());
    }
}
