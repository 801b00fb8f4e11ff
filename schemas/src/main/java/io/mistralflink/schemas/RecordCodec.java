package io.mistralflink.schemas;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecordBase;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Single-object encoding (header 0xC3 0x01, 8-byte little-endian CRC-64-AVRO fingerprint of the
 * writer's schema, Avro binary body) of one specific record type. The decoder knows the current
 * schema and every committed previous version (classpath {@code avro-history/<Name>/vN.avsc}), and
 * resolves old writers' bytes to the current class. Thread-safe; obtain instances from
 * {@link WireCodec}.
 */
public final class RecordCodec<T extends SpecificRecordBase> {

    static final int HEADER_LENGTH = 10;
    private static final byte MAGIC_0 = (byte) 0xC3;
    private static final byte MAGIC_1 = (byte) 0x01;

    private final Class<T> type;
    private final Schema current;
    private final List<Schema> history;
    /** fingerprint -> version label ("v1", "v2 (current)"), in version order. */
    private final Map<Long, String> versions = new LinkedHashMap<>();
    /** fingerprint -> writer schema, for {@link BodyBounds}. */
    private final Map<Long, Schema> writers = new LinkedHashMap<>();
    private final BinaryMessageEncoder<T> encoder;
    private final BinaryMessageDecoder<T> decoder;

    RecordCodec(Class<T> type, Schema current) {
        this.type = type;
        this.current = current;
        this.history = loadHistory(current.getName());
        SpecificData model = new SpecificData(type.getClassLoader());
        this.encoder = new BinaryMessageEncoder<>(model, current);
        this.decoder = new BinaryMessageDecoder<>(model, current);
        for (int i = 0; i < history.size(); i++) {
            Schema old = history.get(i);
            decoder.addSchema(old);
            versions.putIfAbsent(fingerprint(old), "v" + (i + 1));
            writers.putIfAbsent(fingerprint(old), old);
        }
        versions.putIfAbsent(fingerprint(current), "v" + (history.size() + 1) + " (current)");
        writers.putIfAbsent(fingerprint(current), current);
    }

    /** The record name, e.g. "GenerationRequest". */
    public String name() {
        return current.getName();
    }

    public Class<T> type() {
        return type;
    }

    public Schema currentSchema() {
        return current;
    }

    /** Committed previous versions, oldest first (v1, v2, ...); the current schema is not included. */
    public List<Schema> previousSchemas() {
        return history;
    }

    /** Fingerprints this codec decodes, with their version labels. */
    public Map<Long, String> knownFingerprints() {
        return Collections.unmodifiableMap(versions);
    }

    public boolean knows(long fingerprint) {
        return versions.containsKey(fingerprint);
    }

    public byte[] encode(T record) {
        try {
            ByteBuffer buf = encoder.encode(record);
            byte[] out = new byte[buf.remaining()];
            buf.get(out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode " + name() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // e.g. a required field left null: NullPointerException from the datum writer
            throw new IllegalArgumentException("cannot encode " + name() + ": " + e, e);
        }
    }

    /**
     * Decodes bytes written with the current or any committed previous version of the schema.
     *
     * @throws WireFormatException with a human-readable message and a {@link WireFormatException.Kind}
     */
    public T decode(byte[] bytes) {
        long fp = headerFingerprint(bytes);
        if (!knows(fp)) {
            String other = WireCodec.describeFingerprint(fp);
            if (other != null) {
                throw new WireFormatException(WireFormatException.Kind.WRONG_RECORD_TYPE,
                        "record is a " + other + " (fingerprint " + hex(fp) + "), expected a " + name());
            }
            throw new WireFormatException(WireFormatException.Kind.UNKNOWN_SCHEMA,
                    "unknown schema fingerprint " + hex(fp) + ": not a known version of " + name()
                            + " (known: " + describeVersions() + ")");
        }
        try {
            BodyBounds.check(writers.get(fp), bytes, HEADER_LENGTH); // before the decoder allocates what the body declares
        } catch (WireFormatException e) {
            throw new WireFormatException(WireFormatException.Kind.CORRUPT,
                    "corrupt " + name() + " " + versions.get(fp) + " body (" + bytes.length + " bytes): " + e.getMessage());
        }
        try {
            return decoder.decode(bytes);
        } catch (IOException | RuntimeException e) {
            throw new WireFormatException(WireFormatException.Kind.CORRUPT,
                    "corrupt " + name() + " " + versions.get(fp) + " body (" + bytes.length + " bytes): " + e, e);
        }
    }

    String describeVersions() {
        StringBuilder sb = new StringBuilder();
        versions.forEach((fp, label) -> {
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(label).append(' ').append(hex(fp));
        });
        return sb.toString();
    }

    /** Reads and checks the single-object header; returns the writer schema's fingerprint. */
    static long headerFingerprint(byte[] bytes) {
        if (bytes == null || bytes.length == 0) {
            throw new WireFormatException(WireFormatException.Kind.NOT_AVRO, "not Avro single-object encoded: empty value");
        }
        if (bytes.length < HEADER_LENGTH || bytes[0] != MAGIC_0 || bytes[1] != MAGIC_1) {
            throw new WireFormatException(WireFormatException.Kind.NOT_AVRO,
                    "not Avro single-object encoded: expected header C3 01 + 8-byte fingerprint, got "
                            + preview(bytes) + " (" + bytes.length + " bytes)");
        }
        return ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    public static long fingerprint(Schema schema) {
        return SchemaNormalization.parsingFingerprint64(schema);
    }

    static String hex(long fp) {
        return String.format("0x%016X", fp);
    }

    private static String preview(byte[] bytes) {
        StringBuilder sb = new StringBuilder();
        int n = Math.min(bytes.length, 12);
        for (int i = 0; i < n; i++) {
            if (i > 0) sb.append(' ');
            sb.append(String.format("%02X", bytes[i]));
        }
        if (bytes.length > n) sb.append(" ...");
        return sb.toString();
    }

    private static List<Schema> loadHistory(String name) {
        List<Schema> out = new ArrayList<>();
        ClassLoader cl = RecordCodec.class.getClassLoader();
        for (int v = 1; ; v++) {
            String path = "avro-history/" + name + "/v" + v + ".avsc";
            try (InputStream in = cl.getResourceAsStream(path)) {
                if (in == null) break;
                out.add(new Schema.Parser().parse(in));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + path, e);
            }
        }
        return List.copyOf(out);
    }
}
