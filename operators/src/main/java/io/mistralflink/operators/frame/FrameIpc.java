package io.mistralflink.operators.frame;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.ExtensionTypeVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Arrow encoding of a {@link MicroBatchFrame}: one IPC stream holding one record batch with columns
 * request_id (Utf8), position, token, flags (Int32) and, when width > 0, values
 * ({@code arrow.fixed_shape_tensor} over {@code FixedSizeList<Float32>[width]}); when some row has one,
 * the nullable columns draw (a struct of the sampling parameters and the step), target (Int32) and nll
 * (Float64); meta is the schema's custom metadata. Readers also accept a plain
 * {@code FixedSizeList<Float32>} values column.
 *
 * <p>Memory: one JVM-wide root allocator, a child allocator per call, closed before returning (the
 * child's close fails loudly on a leak). Numbers move between Java arrays and Arrow buffers in bulk
 * through memory segments. Needs {@code --add-opens=java.base/java.nio=ALL-UNNAMED}, as Arrow does.
 */
public final class FrameIpc {
    public static final String REQUEST_ID = "request_id";
    public static final String POSITION = "position";
    public static final String TOKEN = "token";
    public static final String FLAGS = "flags";
    public static final String VALUES = "values";
    public static final String DRAW = "draw";
    public static final String TARGET = "target";
    public static final String NLL = "nll";

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ArrowType INT32 = new ArrowType.Int(32, true);
    private static final ArrowType FLOAT32 = new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
    private static final ArrowType FLOAT64 = new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE);
    private static final RootAllocator ROOT;
    private static final ThreadLocal<byte[]> STAGING = ThreadLocal.withInitial(() -> new byte[64 << 10]);

    static {
        FixedShapeTensorType.register();
        ROOT = new RootAllocator();
    }

    private FrameIpc() {}

    /** Bytes held by frame encoding/decoding right now; 0 between calls (leak check, metrics). */
    public static long allocatedBytes() { return ROOT.getAllocatedMemory(); }

    /** The Arrow schema of a frame of this width and meta, without the optional per-row columns. */
    public static Schema schema(int width, Map<String, String> meta) { return schema(width, meta, false, false, false); }

    private static Schema schema(int width, Map<String, String> meta, boolean draws, boolean targets, boolean nll) {
        List<Field> fields = new ArrayList<>(List.of(
                new Field(REQUEST_ID, FieldType.notNullable(ArrowType.Utf8.INSTANCE), null),
                new Field(POSITION, FieldType.notNullable(INT32), null),
                new Field(TOKEN, FieldType.notNullable(INT32), null),
                new Field(FLAGS, FieldType.notNullable(INT32), null)));
        if (width > 0) {
            Field item = new Field("item", FieldType.notNullable(FLOAT32), null);
            fields.add(new Field(VALUES, FieldType.notNullable(new FixedShapeTensorType(width)), List.of(item)));
        }
        if (draws) fields.add(new Field(DRAW, FieldType.nullable(ArrowType.Struct.INSTANCE), DrawColumn.FIELDS));
        if (targets) fields.add(new Field(TARGET, FieldType.nullable(INT32), null));
        if (nll) fields.add(new Field(NLL, FieldType.nullable(FLOAT64), null));
        return new Schema(fields, meta);
    }

    private static boolean any(Object[] column) {
        for (Object o : column) if (o != null) return true;
        return false;
    }

    private static boolean any(int[] column) {
        for (int v : column) if (v >= 0) return true;
        return false;
    }

    private static boolean any(double[] column) {
        for (double v : column) if (!Double.isNaN(v)) return true;
        return false;
    }

    public static byte[] encode(MicroBatchFrame frame) {
        return withBatch(frame, (root, size) -> {
            ByteArrayWriteChannel out = new ByteArrayWriteChannel(size);
            writeStream(root, out);
            return out.array();
        });
    }

    /** Writes an int length, then the IPC stream, straight from Arrow's buffers: no frame-sized byte[]. */
    public static void encode(MicroBatchFrame frame, DataOutput out) throws IOException {
        try {
            withBatch(frame, (root, size) -> {
                out.writeInt(size);
                writeStream(root, new DataOutputChannel(out));
                return null;
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    public static MicroBatchFrame decode(byte[] ipc, int offset, int length) {
        return decode(new ByteArrayReadChannel(ipc, offset, length));
    }

    /** Reads what {@link #encode(MicroBatchFrame, DataOutput)} wrote. */
    public static MicroBatchFrame decode(DataInput in) throws IOException {
        int length = in.readInt();
        if (length < 0) throw new IOException("negative frame length " + length);
        DataInputChannel channel = new DataInputChannel(in, length);
        try {
            return decode(channel);
        } finally {
            channel.skipRest(); // the end-of-stream marker, which the reader does not consume
        }
    }

    private interface BatchUse<R> {
        R apply(VectorSchemaRoot root, int ipcBytes) throws IOException;
    }

    /** Fills a batch and measures its IPC stream with a counting pass, so the real pass writes once. */
    private static <R> R withBatch(MicroBatchFrame f, BatchUse<R> use) {
        int rows = f.rows();
        int width = f.width();
        try (BufferAllocator alloc = ROOT.newChildAllocator("frame-encode", 0, Long.MAX_VALUE);
                VectorSchemaRoot root = VectorSchemaRoot.create(schema(width, f.meta(),
                        any(f.drawArray()), any(f.targetArray()), any(f.nllArray())), alloc)) {
            writeStrings((VarCharVector) root.getVector(REQUEST_ID), f.requestIdArray());
            writeInts((IntVector) root.getVector(POSITION), f.positionArray());
            writeInts((IntVector) root.getVector(TOKEN), f.tokenArray());
            writeInts((IntVector) root.getVector(FLAGS), f.flagArray());
            if (width > 0) writeValues(storage(root.getVector(VALUES)), f.valueArray(), rows, alloc);
            if (root.getVector(DRAW) != null) DrawColumn.write((StructVector) root.getVector(DRAW), f.drawArray());
            if (root.getVector(TARGET) != null) writeTargets((IntVector) root.getVector(TARGET), f.targetArray());
            if (root.getVector(NLL) != null) writeNll((Float8Vector) root.getVector(NLL), f.nllArray());
            root.setRowCount(rows);
            CountingChannel counter = new CountingChannel();
            writeStream(root, counter);
            if (counter.bytes > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("frame over 2 GB: " + f);
            return use.apply(root, (int) counter.bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeStream(VectorSchemaRoot root, WritableByteChannel out) throws IOException {
        try (ArrowStreamWriter writer = new ArrowStreamWriter(root, null, out)) {
            writer.start();
            writer.writeBatch();
            writer.end();
        }
    }

    private static MicroBatchFrame decode(ReadableByteChannel in) {
        try (BufferAllocator alloc = ROOT.newChildAllocator("frame-decode", 0, Long.MAX_VALUE);
                ArrowStreamReader reader = new ArrowStreamReader(in, alloc)) {
            if (!reader.loadNextBatch()) throw new IllegalArgumentException("Arrow stream without a record batch");
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            int rows = root.getRowCount();
            String[] ids = readStrings((VarCharVector) column(root, REQUEST_ID));
            int[] positions = readInts((IntVector) column(root, POSITION));
            int[] tokens = readInts((IntVector) column(root, TOKEN));
            int[] flags = readInts((IntVector) column(root, FLAGS));
            int width = 0;
            float[] values = new float[0];
            FieldVector v = root.getVector(VALUES);
            if (v != null) {
                FixedSizeListVector list = storage(v);
                width = list.getListSize();
                values = readValues(list, rows);
            }
            Draw[] draws = new Draw[rows];
            if (root.getVector(DRAW) instanceof StructVector d) DrawColumn.read(d, draws);
            int[] targets = new int[rows];
            Arrays.fill(targets, -1);
            if (root.getVector(TARGET) instanceof IntVector t)
                for (int r = 0; r < rows; r++) if (!t.isNull(r)) targets[r] = t.get(r);
            double[] nll = new double[rows];
            Arrays.fill(nll, Double.NaN);
            if (root.getVector(NLL) instanceof Float8Vector n)
                for (int r = 0; r < rows; r++) if (!n.isNull(r)) nll[r] = n.get(r);
            Map<String, String> meta = root.getSchema().getCustomMetadata();
            return new MicroBatchFrame(meta == null ? new TreeMap<>() : new TreeMap<>(meta), ids, positions, tokens, flags, width, values,
                    draws, targets, nll);
        } catch (IOException e) {
            throw new IllegalArgumentException("not an Arrow IPC stream of a frame", e);
        }
    }

    private static FieldVector column(VectorSchemaRoot root, String name) {
        FieldVector v = root.getVector(name);
        if (v == null) throw new IllegalArgumentException("frame without column " + name);
        if (v.getNullCount() > 0) throw new IllegalArgumentException("nulls in column " + name);
        return v;
    }

    private static FixedSizeListVector storage(FieldVector v) {
        FieldVector s = v instanceof ExtensionTypeVector<?> e ? e.getUnderlyingVector() : v;
        if (!(s instanceof FixedSizeListVector l) || !(l.getDataVector() instanceof Float4Vector)) {
            throw new IllegalArgumentException("values column is not FixedSizeList<Float32>: " + v.getField());
        }
        return l;
    }

    private static void writeStrings(VarCharVector v, String[] src) {
        byte[][] utf8 = new byte[src.length][];
        long total = 0;
        for (int i = 0; i < src.length; i++) total += (utf8[i] = src[i].getBytes(StandardCharsets.UTF_8)).length;
        v.allocateNew(Math.max(total, 1), src.length);
        for (int i = 0; i < src.length; i++) v.setSafe(i, utf8[i]);
        v.setValueCount(src.length);
    }

    private static String[] readStrings(VarCharVector v) {
        int rows = v.getValueCount();
        String[] out = new String[rows];
        if (rows == 0) return out;
        ArrowBuf offsets = v.getOffsetBuffer();
        int end = offsets.getInt((long) rows * Integer.BYTES);
        byte[] data = new byte[end];
        v.getDataBuffer().getBytes(0, data, 0, end);
        for (int i = 0, start = offsets.getInt(0); i < rows; i++) {
            int next = offsets.getInt((long) (i + 1) * Integer.BYTES);
            out[i] = new String(data, start, next - start, StandardCharsets.UTF_8);
            start = next;
        }
        return out;
    }

    private static void writeTargets(IntVector v, int[] src) {
        v.allocateNew(src.length);
        for (int r = 0; r < src.length; r++) if (src[r] >= 0) v.set(r, src[r]);
        v.setValueCount(src.length);
    }

    private static void writeNll(Float8Vector v, double[] src) {
        v.allocateNew(src.length);
        for (int r = 0; r < src.length; r++) if (!Double.isNaN(src[r])) v.set(r, src[r]);
        v.setValueCount(src.length);
    }

    private static void writeInts(IntVector v, int[] src) {
        v.allocateNew(src.length);
        if (src.length > 0) {
            MemorySegment.copy(src, 0, segment(v.getDataBuffer(), (long) src.length * Integer.BYTES), INT, 0, src.length);
            setAllValid(v.getValidityBuffer(), src.length);
        }
        v.setValueCount(src.length);
    }

    private static int[] readInts(IntVector v) {
        int rows = v.getValueCount();
        int[] out = new int[rows];
        if (rows > 0) MemorySegment.copy(segment(v.getDataBuffer(), (long) rows * Integer.BYTES), INT, 0, out, 0, rows);
        return out;
    }

    /** Loads fresh buffers instead of allocateNew(): that would zero megabytes we overwrite at once. */
    private static void writeValues(FixedSizeListVector list, float[] src, int rows, BufferAllocator alloc) {
        long bytes = (long) src.length * Float.BYTES;
        try (ArrowBuf validity = alloc.buffer(Math.max((rows + 7L) / 8, 1));
                ArrowBuf itemValidity = alloc.buffer(Math.max((src.length + 7L) / 8, 1));
                ArrowBuf data = alloc.buffer(Math.max(bytes, 1))) {
            setAllValid(validity, rows);
            setAllValid(itemValidity, src.length);
            if (bytes > 0) MemorySegment.copy(src, 0, segment(data, bytes), FLOAT, 0, src.length);
            data.writerIndex(bytes);
            list.loadFieldBuffers(new ArrowFieldNode(rows, 0), List.of(validity));
            list.getDataVector().loadFieldBuffers(new ArrowFieldNode(src.length, 0), List.of(itemValidity, data));
        } // the vectors hold their own references now
    }

    private static float[] readValues(FixedSizeListVector list, int rows) {
        int n = Math.multiplyExact(rows, list.getListSize());
        float[] out = new float[n];
        // The child's data starts at list row 0: IPC batches we decode are never sliced.
        if (n > 0) MemorySegment.copy(segment(list.getDataVector().getDataBuffer(), (long) n * Float.BYTES), FLOAT, 0, out, 0, n);
        return out;
    }

    private static void setAllValid(ArrowBuf validity, int count) { validity.setOne(0L, (count + 7L) / 8); }

    private static MemorySegment segment(ArrowBuf buf, long bytes) {
        if (bytes > buf.capacity()) throw new IllegalArgumentException("buffer of " + buf.capacity() + " bytes, need " + bytes);
        return MemorySegment.ofBuffer(buf.nioBuffer(0, (int) bytes));
    }

    /** In-memory channels: always open, nothing to close. */
    private abstract static class AlwaysOpen implements java.nio.channels.Channel {
        @Override
        public boolean isOpen() { return true; }

        @Override
        public void close() {}
    }

    /** Counts what Arrow would write; the buffers are not touched. */
    private static final class CountingChannel extends AlwaysOpen implements WritableByteChannel {
        long bytes;

        @Override
        public int write(ByteBuffer src) {
            int n = src.remaining();
            src.position(src.limit());
            bytes += n;
            return n;
        }
    }

    /** Fills an array of the exact stream size in one pass (no 8 KB staging as with Channels.newChannel). */
    private static final class ByteArrayWriteChannel extends AlwaysOpen implements WritableByteChannel {
        private final byte[] buf;
        private int size;

        ByteArrayWriteChannel(int exactSize) { buf = new byte[exactSize]; }

        @Override
        public int write(ByteBuffer src) {
            int n = src.remaining();
            src.get(buf, size, n); // overflow means the counting pass lied: BufferOverflowException
            size += n;
            return n;
        }

        byte[] array() {
            if (size != buf.length) throw new IllegalStateException("wrote " + size + " of " + buf.length + " bytes");
            return buf;
        }
    }

    /** Streams direct buffers to a DataOutput through a small per-thread staging array. */
    private static final class DataOutputChannel extends AlwaysOpen implements WritableByteChannel {
        private final DataOutput out;

        DataOutputChannel(DataOutput out) { this.out = out; }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = src.remaining();
            if (src.hasArray()) {
                out.write(src.array(), src.arrayOffset() + src.position(), n);
                src.position(src.limit());
                return n;
            }
            byte[] stage = STAGING.get();
            while (src.hasRemaining()) {
                int k = Math.min(stage.length, src.remaining());
                src.get(stage, 0, k);
                out.write(stage, 0, k);
            }
            return n;
        }
    }

    /** Reads exactly {@code length} bytes of a DataInput, staged like {@link DataOutputChannel}. */
    private static final class DataInputChannel extends AlwaysOpen implements ReadableByteChannel {
        private final DataInput in;
        private int remaining;

        DataInputChannel(DataInput in, int length) {
            this.in = in;
            this.remaining = length;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (remaining == 0) return -1;
            int n = Math.min(dst.remaining(), remaining);
            if (dst.hasArray()) {
                in.readFully(dst.array(), dst.arrayOffset() + dst.position(), n);
                dst.position(dst.position() + n);
            } else {
                byte[] stage = STAGING.get();
                for (int left = n; left > 0; ) {
                    int k = Math.min(stage.length, left);
                    in.readFully(stage, 0, k);
                    dst.put(stage, 0, k);
                    left -= k;
                }
            }
            remaining -= n;
            return n;
        }

        void skipRest() throws IOException {
            while (remaining > 0) {
                int k = in.skipBytes(remaining);
                if (k <= 0) {
                    in.readByte();
                    k = 1;
                }
                remaining -= k;
            }
        }
    }

    /** A channel over a byte range: Arrow reads each message body straight into its buffer. */
    private static final class ByteArrayReadChannel extends AlwaysOpen implements ReadableByteChannel {
        private final byte[] buf;
        private int pos;
        private final int end;

        ByteArrayReadChannel(byte[] buf, int offset, int length) {
            java.util.Objects.checkFromIndexSize(offset, length, buf.length);
            this.buf = buf;
            this.pos = offset;
            this.end = offset + length;
        }

        @Override
        public int read(ByteBuffer dst) {
            if (pos >= end) return -1;
            int n = Math.min(dst.remaining(), end - pos);
            dst.put(buf, pos, n);
            pos += n;
            return n;
        }
    }
}
