package io.mistralflink.operators.pipeline;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;

/** The scheduler's per-request state, written with Java serialization; {@link #copy} is a deep copy. */
final class RequestStateSerializer extends TypeSerializerSingleton<RequestState> {
    static final RequestStateSerializer TYPE = new RequestStateSerializer();

    @Override public boolean isImmutableType() { return false; }
    @Override public RequestState createInstance() { return null; }
    @Override public RequestState copy(RequestState from) { return from == null ? null : fromBytes(toBytes(from)); }
    @Override public RequestState copy(RequestState from, RequestState reuse) { return copy(from); }
    @Override public int getLength() { return -1; }

    @Override public void serialize(RequestState record, DataOutputView target) throws IOException {
        byte[] b = toBytes(record);
        target.writeInt(b.length);
        target.write(b);
    }

    @Override public RequestState deserialize(DataInputView source) throws IOException {
        byte[] b = new byte[source.readInt()];
        source.readFully(b);
        return fromBytes(b);
    }

    @Override public RequestState deserialize(RequestState reuse, DataInputView source) throws IOException { return deserialize(source); }

    @Override public void copy(DataInputView source, DataOutputView target) throws IOException {
        int n = source.readInt();
        target.writeInt(n);
        target.write(source, n);
    }

    private static byte[] toBytes(RequestState r) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(buf)) { out.writeObject(r); }
        catch (IOException e) { throw new UncheckedIOException(e); }
        return buf.toByteArray();
    }

    private static RequestState fromBytes(byte[] b) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) { return (RequestState) in.readObject(); }
        catch (IOException e) { throw new UncheckedIOException(e); }
        catch (ClassNotFoundException e) { throw new IllegalStateException(e); }
    }

    @Override public TypeSerializerSnapshot<RequestState> snapshotConfiguration() { return new Snapshot(); }

    public static final class Snapshot extends SimpleTypeSerializerSnapshot<RequestState> {
        public Snapshot() { super(() -> TYPE); }
    }
}
