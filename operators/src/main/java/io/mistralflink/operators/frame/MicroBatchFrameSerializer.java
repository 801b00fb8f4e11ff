package io.mistralflink.operators.frame;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Flink serializer of frames: an int length, then the frame's Arrow IPC stream bytes. Frames are
 * immutable, so {@link #copy} hands the same object over: chained operators pass frames by reference.
 * Stateless, hence a singleton with a {@link SimpleTypeSerializerSnapshot}.
 */
public final class MicroBatchFrameSerializer extends TypeSerializerSingleton<MicroBatchFrame> {
    private static final long serialVersionUID = 1L;

    public static final MicroBatchFrameSerializer INSTANCE = new MicroBatchFrameSerializer();

    private MicroBatchFrameSerializer() {}

    @Override
    public boolean isImmutableType() { return true; }

    @Override
    public MicroBatchFrame createInstance() { return MicroBatchFrame.builder().build(); }

    @Override
    public MicroBatchFrame copy(MicroBatchFrame from) { return from; }

    @Override
    public MicroBatchFrame copy(MicroBatchFrame from, MicroBatchFrame reuse) { return from; }

    @Override
    public int getLength() { return -1; }

    @Override
    public void serialize(MicroBatchFrame frame, DataOutputView target) throws IOException { FrameIpc.encode(frame, target); }

    @Override
    public MicroBatchFrame deserialize(DataInputView source) throws IOException { return FrameIpc.decode(source); }

    @Override
    public MicroBatchFrame deserialize(MicroBatchFrame reuse, DataInputView source) throws IOException { return deserialize(source); }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        int length = source.readInt();
        target.writeInt(length);
        // Chunked: DataOutputSerializer.write(DataInputView, n) does not grow its buffer.
        byte[] chunk = new byte[Math.min(length, 64 << 10)];
        for (int left = length; left > 0; ) {
            int k = Math.min(chunk.length, left);
            source.readFully(chunk, 0, k);
            target.write(chunk, 0, k);
            left -= k;
        }
    }

    @Override
    public TypeSerializerSnapshot<MicroBatchFrame> snapshotConfiguration() { return new Snapshot(); }

    /** Keeps the singleton on deserialization of a job graph. */
    private Object readResolve() { return INSTANCE; }

    /** Restores {@link #INSTANCE}; the wire format is versioned by Arrow IPC itself. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<MicroBatchFrame> {
        public Snapshot() { super(() -> INSTANCE); }
    }
}
