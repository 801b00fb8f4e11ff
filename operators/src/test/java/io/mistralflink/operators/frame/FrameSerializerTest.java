package io.mistralflink.operators.frame;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FrameSerializerTest {
    private final MicroBatchFrameSerializer serializer = MicroBatchFrameSerializer.INSTANCE;

    @AfterEach
    void noLeak() { assertEquals(0, FrameIpc.allocatedBytes()); }

    @Test
    void roundTripSeveralFramesInOneBuffer() throws Exception {
        List<MicroBatchFrame> frames = List.of(
                FrameTestData.frame(5, 16, 1), FrameTestData.frame(1, 0, 2), FrameTestData.frame(0, 0, 3),
                FrameTestData.frame(33, 128, 4), serializer.createInstance());
        DataOutputSerializer out = new DataOutputSerializer(64);
        for (MicroBatchFrame f : frames) serializer.serialize(f, out);
        out.writeInt(0xCAFE); // whatever follows a frame must stay where it is
        DataInputDeserializer in = new DataInputDeserializer(out.getSharedBuffer(), 0, out.length());
        List<MicroBatchFrame> back = new ArrayList<>();
        for (int i = 0; i < frames.size(); i++) back.add(serializer.deserialize(in));
        assertEquals(frames, back);
        assertEquals(0xCAFE, in.readInt());
        assertEquals(0, in.available());
    }

    @Test
    void serializedFormIsLengthPrefixedIpc() throws Exception {
        MicroBatchFrame f = FrameTestData.frame(4, 8, 9);
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(f, out);
        byte[] ipc = f.toIpc();
        DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
        assertEquals(ipc.length, in.readInt());
        byte[] body = new byte[ipc.length];
        in.readFully(body);
        assertArrayEquals(ipc, body);
    }

    @Test
    void copyOfStreamIsVerbatim() throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(FrameTestData.frame(3, 4, 1), out);
        serializer.serialize(FrameTestData.frame(2, 0, 2), out);
        DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
        DataOutputSerializer copy = new DataOutputSerializer(64);
        serializer.copy(in, copy);
        serializer.copy(in, copy);
        assertArrayEquals(out.getCopyOfBuffer(), copy.getCopyOfBuffer());
    }

    @Test
    void immutableFramesAreHandedOverByReference() throws Exception {
        MicroBatchFrame f = FrameTestData.frame(2, 2, 1);
        assertTrue(serializer.isImmutableType());
        assertSame(f, serializer.copy(f));
        assertSame(f, serializer.copy(f, serializer.createInstance()));
        assertSame(serializer, serializer.duplicate());
        assertEquals(-1, serializer.getLength());
        assertSame(serializer, InstantiationUtil.clone(serializer)); // shipped in the job graph
    }

    @Test
    void snapshotRestoresAndIsCompatibleAsIs() throws Exception {
        TypeSerializerSnapshot<MicroBatchFrame> snapshot = serializer.snapshotConfiguration();
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, snapshot);
        DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
        TypeSerializerSnapshot<MicroBatchFrame> restored =
                TypeSerializerSnapshot.readVersionedSnapshot(in, getClass().getClassLoader());
        assertEquals(MicroBatchFrameSerializer.Snapshot.class, restored.getClass());
        TypeSerializer<MicroBatchFrame> restoredSerializer = restored.restoreSerializer();
        assertSame(serializer, restoredSerializer);
        // Flink 2: the new serializer's snapshot judges the old one.
        TypeSerializerSchemaCompatibility<MicroBatchFrame> compat =
                serializer.snapshotConfiguration().resolveSchemaCompatibility(restored);
        assertTrue(compat.isCompatibleAsIs());
    }

    @Test
    void typeInformationComesFromTheAnnotation() {
        TypeInformation<MicroBatchFrame> info = TypeInformation.of(MicroBatchFrame.class);
        assertEquals(MicroBatchFrameTypeInfo.INSTANCE, info);
        assertSame(serializer, info.createSerializer(new SerializerConfigImpl()));
    }

    /** The network path: serialize into Flink's DataOutputSerializer and back, 512 x 4096 floats. */
    @Test
    void timing512x4096() throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(9 << 20);
        FrameTestData.timeRoundTrips("serializer 512x4096", FrameTestData.frame(512, 4096, 7), 50, new FrameTestData.Codec<DataOutputSerializer>() {
            @Override public DataOutputSerializer encode(MicroBatchFrame frame) throws Exception {
                out.clear();
                serializer.serialize(frame, out);
                return out;
            }
            @Override public MicroBatchFrame decode(DataOutputSerializer written) throws Exception {
                return serializer.deserialize(new DataInputDeserializer(written.getSharedBuffer(), 0, written.length()));
            }
        });
    }
}
