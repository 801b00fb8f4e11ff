package io.mistralflink.operators.frame;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FrameIpcTest {
    @AfterEach
    void noLeak() { assertEquals(0, FrameIpc.allocatedBytes(), "frame allocator not back to 0 bytes"); }

    @Test
    void roundTrip() {
        for (int[] shape : new int[][] {{1, 1}, {7, 16}, {64, 4096}, {3, 0}, {0, 8}, {0, 0}}) {
            MicroBatchFrame f = FrameTestData.frame(shape[0], shape[1], shape[0] * 31L + shape[1]);
            MicroBatchFrame back = MicroBatchFrame.fromIpc(f.toIpc());
            assertEquals(f, back, Arrays.toString(shape));
            assertEquals(f.meta(), back.meta());
        }
        assertEquals(0, FrameIpc.allocatedBytes());
    }

    @Test
    void specialFloatsSurviveBitForBit() {
        float[] v = {Float.NaN, -0f, Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.intBitsToFloat(0x7fc00123), 1e-40f};
        MicroBatchFrame f = MicroBatchFrame.builder().width(6).row("x", 0, 0, 0).values(v).build();
        float[] back = MicroBatchFrame.fromIpc(f.toIpc()).values();
        for (int i = 0; i < v.length; i++) assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(back[i]));
    }

    @Test
    void wireSchemaIsFixedShapeTensorWithMetaInSchemaMetadata() throws Exception {
        MicroBatchFrame f = FrameTestData.frame(3, 8, 5);
        try (BufferAllocator a = new RootAllocator();
                ArrowStreamReader r = new ArrowStreamReader(new ByteArrayInputStream(f.toIpc()), a)) {
            assertTrue(r.loadNextBatch());
            VectorSchemaRoot root = r.getVectorSchemaRoot();
            Schema schema = root.getSchema();
            assertEquals(List.of("request_id", "position", "token", "flags", "values"),
                    schema.getFields().stream().map(Field::getName).toList());
            assertEquals(f.meta(), schema.getCustomMetadata());
            FixedShapeTensorType t = assertInstanceOf(FixedShapeTensorType.class, schema.findField("values").getType());
            assertArrayEquals(new int[] {8}, t.shape());
            assertEquals("{\"shape\":[8]}", t.serialize());
            assertInstanceOf(FixedShapeTensorType.Vector.class, root.getVector("values"));
            assertEquals(3, root.getRowCount());
            assertEquals(f.requestId(2), ((VarCharVector) root.getVector("request_id")).getObject(2).toString());
            assertEquals(f.token(1), ((IntVector) root.getVector("token")).get(1));
            assertEquals(0, root.getVector("flags").getNullCount());
        }
    }

    @Test
    void extensionTypeParsesShapeAndChecksStorage() {
        FixedShapeTensorType proto = new FixedShapeTensorType();
        FixedShapeTensorType t = (FixedShapeTensorType) proto.deserialize(new ArrowType.FixedSizeList(12),
                "{\"shape\": [3, 4], \"dim_names\": [\"a\", \"b\"]}");
        assertArrayEquals(new int[] {3, 4}, t.shape());
        assertTrue(t.extensionEquals(new FixedShapeTensorType(3, 4)));
        assertThrows(IllegalArgumentException.class, () -> proto.deserialize(new ArrowType.FixedSizeList(11), "{\"shape\":[3,4]}"));
    }

    @Test
    void decodesPlainFixedSizeListValues() throws Exception {
        // A writer without the extension type (e.g. another Arrow binding) sends FixedSizeList<Float32>[2].
        Field item = new Field("item", FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)), null);
        Schema schema = new Schema(List.of(
                new Field("request_id", FieldType.notNullable(ArrowType.Utf8.INSTANCE), null),
                new Field("position", FieldType.notNullable(new ArrowType.Int(32, true)), null),
                new Field("token", FieldType.notNullable(new ArrowType.Int(32, true)), null),
                new Field("flags", FieldType.notNullable(new ArrowType.Int(32, true)), null),
                new Field("values", FieldType.notNullable(new ArrowType.FixedSizeList(2)), List.of(item))),
                Map.of("lane", "9"));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (BufferAllocator a = new RootAllocator(); VectorSchemaRoot root = VectorSchemaRoot.create(schema, a)) {
            VarCharVector ids = (VarCharVector) root.getVector("request_id");
            ids.allocateNew();
            ids.setSafe(0, "r".getBytes());
            for (String c : List.of("position", "token", "flags")) {
                IntVector v = (IntVector) root.getVector(c);
                v.allocateNew();
                v.setSafe(0, 3);
            }
            FixedSizeListVector values = (FixedSizeListVector) root.getVector("values");
            values.allocateNew();
            values.setNotNull(0);
            Float4Vector data = (Float4Vector) values.getDataVector();
            data.setSafe(0, 1.5f);
            data.setSafe(1, -2.5f);
            root.setRowCount(1);
            try (ArrowStreamWriter w = new ArrowStreamWriter(root, null, Channels.newChannel(bytes))) {
                w.start();
                w.writeBatch();
                w.end();
            }
        }
        MicroBatchFrame f = MicroBatchFrame.fromIpc(bytes.toByteArray());
        assertEquals(MicroBatchFrame.builder().meta("lane", "9").width(2).row("r", 3, 3, 3, new float[] {1.5f, -2.5f}).build(), f);
    }

    @Test
    void rejectsGarbage() {
        assertThrows(RuntimeException.class, () -> MicroBatchFrame.fromIpc(new byte[] {1, 2, 3}));
    }

    /** 512 rows x 4096 floats (8 MiB) should take a few milliseconds each way. */
    @Test
    void timing512x4096() throws Exception {
        MicroBatchFrame f = FrameTestData.frame(512, 4096, 42);
        FrameTestData.timeRoundTrips("frame 512x4096 (" + f.toIpc().length + " bytes IPC)", f, 50, new FrameTestData.Codec<byte[]>() {
            @Override public byte[] encode(MicroBatchFrame frame) { return frame.toIpc(); }
            @Override public MicroBatchFrame decode(byte[] ipc) { return MicroBatchFrame.fromIpc(ipc); }
        });
    }
}
