package io.mistralflink.model.compute.cuda;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cuMemAllocHost;
import static org.bytedeco.cuda.global.cudart.cuMemFreeHost;

/**
 * Pinned host memory for a step's small inputs (token ids, positions, attention metadata) on their
 * way to the device: bump-allocated, reset at each step (the previous step's copies have finished by
 * then), so a copy can be asynchronous and the same inputs land at the same bytes every step.
 */
final class Staging implements AutoCloseable {
    private static final class Block {
        final Pointer host;
        final ByteBuffer buf;
        Block(long bytes) {
            PointerPointer<Pointer> pp = new PointerPointer<>(1);
            check(cuMemAllocHost(pp, bytes), "cuMemAllocHost(" + bytes + ")");
            host = pp.get(0);
            buf = host.capacity(bytes).asByteBuffer().order(ByteOrder.nativeOrder());
        }
        long address() { return host.address(); }
    }

    private Block main;
    private final List<Block> extra = new ArrayList<>();
    private long used, extraBytes;

    Staging(long bytes) { main = new Block(bytes); }

    /** A slice of at least {@code bytes}: its host address and a buffer positioned at its start. */
    record Slice(long address, ByteBuffer buf, int offset) {}

    Slice take(long bytes) {
        bytes = Cuda.align(bytes);
        if (used + bytes <= main.buf.capacity()) {
            Slice s = new Slice(main.address() + used, main.buf, (int) used);
            used += bytes;
            return s;
        }
        Block b = new Block(bytes);
        extra.add(b);
        extraBytes += bytes;
        return new Slice(b.address(), b.buf, 0);
    }

    long put(int[] data) {
        Slice s = take(4L * data.length);
        s.buf.asIntBuffer().put(s.offset / 4, data);
        return s.address;
    }

    long put(float[] data) {
        Slice s = take(4L * data.length);
        s.buf.asFloatBuffer().put(s.offset / 4, data);
        return s.address;
    }

    long put(long[] data) {
        Slice s = take(8L * data.length);
        s.buf.asLongBuffer().put(s.offset / 8, data);
        return s.address;
    }

    /** Start of a step; the stream is idle. True when the block moved (graphs hold stale addresses). */
    boolean reset() {
        boolean moved = !extra.isEmpty();
        if (moved) {
            long grown = Math.max(2L * main.buf.capacity(), used + extraBytes * 2);
            for (Block b : extra) cuMemFreeHost(b.host);
            extra.clear();
            cuMemFreeHost(main.host);
            main = new Block(Math.min(grown, Integer.MAX_VALUE - 4096));
        }
        extraBytes = 0;
        used = 0;
        return moved;
    }

    @Override public void close() {
        for (Block b : extra) cuMemFreeHost(b.host);
        extra.clear();
        cuMemFreeHost(main.host);
    }
}
