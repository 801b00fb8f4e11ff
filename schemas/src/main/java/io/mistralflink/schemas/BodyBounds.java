package io.mistralflink.schemas;

import org.apache.avro.Schema;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;

/**
 * Walks an Avro binary body along its writer's schema without building anything, checking every
 * length it declares against the bytes that are left: a string, bytes or a collection block cannot
 * claim more than the record holds. Avro's decoder allocates a declared size before it reads it, so
 * a 49-byte record that declares a list of two billion items would otherwise end in an
 * {@link OutOfMemoryError}. Strings must be valid UTF-8 (Avro's decoder would replace what is not).
 * Time and memory are linear in the record's length.
 */
final class BodyBounds {
    /** Items of a type that may take no bytes (null, an empty record) per block, at most. */
    static final int MAX_EMPTY_ITEMS = 1 << 16;

    private final byte[] bytes;
    private int pos;

    private BodyBounds(byte[] bytes, int offset) {
        this.bytes = bytes;
        this.pos = offset;
    }

    /** Throws {@link WireFormatException} ({@code CORRUPT}) at the first length the body cannot hold. */
    static void check(Schema writer, byte[] bytes, int offset) {
        new BodyBounds(bytes, offset).walk(writer);
    }

    private int left() { return bytes.length - pos; }

    private void walk(Schema s) {
        switch (s.getType()) {
            case NULL -> { }
            case BOOLEAN -> skip(1, "a boolean");
            case INT, LONG -> readLong();
            case FLOAT -> skip(4, "a float");
            case DOUBLE -> skip(8, "a double");
            case FIXED -> skip(s.getFixedSize(), "a fixed of " + s.getFixedSize() + " bytes");
            case STRING, BYTES -> {
                long n = readLong();
                if (n < 0 || n > left()) throw corrupt("a " + s.getType().getName() + " of length " + n + " with " + left() + " bytes left");
                if (s.getType() == Schema.Type.STRING) utf8((int) n);
                pos += (int) n;
            }
            case ENUM -> index(s.getEnumSymbols().size(), "enum symbol");
            case UNION -> walk(s.getTypes().get(index(s.getTypes().size(), "union branch")));
            case RECORD -> { for (Schema.Field f : s.getFields()) walk(f.schema()); }
            case ARRAY -> items(s.getElementType(), null);
            case MAP -> items(s.getValueType(), Schema.create(Schema.Type.STRING));
        }
    }

    /** Blocks of a collection: a count (negative: followed by the block's byte size), then the items; a count of 0 ends it. */
    private void items(Schema item, Schema key) {
        while (true) {
            long n = readLong();
            if (n == 0) return;
            if (n < 0) {
                if (n == Long.MIN_VALUE) throw corrupt("a collection block count of " + n);
                n = -n;
                readLong();
            }
            long limit = key != null || minBytes(item) > 0 ? left() : MAX_EMPTY_ITEMS;
            if (n > limit) throw corrupt("a collection block of " + n + " items with " + left() + " bytes left");
            for (long i = 0; i < n; i++) {
                if (key != null) walk(key);
                walk(item);
            }
        }
    }

    /** Whether a value of this type takes at least one byte. */
    private static int minBytes(Schema s) {
        return switch (s.getType()) {
            case NULL -> 0;
            case RECORD -> s.getFields().stream().anyMatch(f -> minBytes(f.schema()) > 0) ? 1 : 0;
            case FIXED -> Math.min(1, s.getFixedSize());
            default -> 1;
        };
    }

    /** Avro's decoder replaces malformed UTF-8 silently: a text that is not what its writer meant is refused instead. */
    private void utf8(int n) {
        try {
            StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes, pos, n));
        } catch (CharacterCodingException e) {
            throw corrupt("a string of " + n + " bytes that is not valid UTF-8");
        }
    }

    private int index(int size, String what) {
        long i = readLong();
        if (i < 0 || i >= size) throw corrupt(what + " " + i + " of " + size);
        return (int) i;
    }

    private void skip(int n, String what) {
        if (n > left()) throw corrupt(what + " with " + left() + " bytes left");
        pos += n;
    }

    /** Avro's zig-zag varint, at most 10 bytes. */
    private long readLong() {
        long raw = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (pos >= bytes.length) throw corrupt("the body ends inside a number");
            int b = bytes[pos++] & 0xff;
            raw |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) return (raw >>> 1) ^ -(raw & 1);
        }
        throw corrupt("a number longer than 10 bytes");
    }

    private WireFormatException corrupt(String what) {
        return new WireFormatException(WireFormatException.Kind.CORRUPT, "it declares " + what + " at byte " + pos);
    }
}
