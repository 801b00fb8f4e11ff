package io.mistralflink.schemas;

import java.util.List;

/**
 * The wire format of every Kafka record value of the system: Avro single-object encoding
 * ({@code C3 01} + CRC-64-AVRO fingerprint of the writer schema + binary body).
 *
 * <p>Readers resolve the writer's schema by fingerprint among the current schema and every
 * committed previous version (src/main/avro-history), so bytes from an older producer decode into
 * today's classes (new fields take their defaults). Decoding failures throw
 * {@link WireFormatException} with a readable message and a kind: not Avro, unknown fingerprint,
 * another record type, corrupt body.
 */
public final class WireCodec {

    public static final RecordCodec<GenerationRequest> REQUEST =
            new RecordCodec<>(GenerationRequest.class, GenerationRequest.getClassSchema());
    public static final RecordCodec<Completion> COMPLETION =
            new RecordCodec<>(Completion.class, Completion.getClassSchema());
    public static final RecordCodec<DeadLetter> DEAD_LETTER =
            new RecordCodec<>(DeadLetter.class, DeadLetter.getClassSchema());

    private static final List<RecordCodec<?>> ALL = List.of(REQUEST, COMPLETION, DEAD_LETTER);

    private WireCodec() {}

    public static List<RecordCodec<?>> all() {
        return ALL;
    }

    public static byte[] encode(GenerationRequest r) {
        return REQUEST.encode(r);
    }

    public static byte[] encode(Completion c) {
        return COMPLETION.encode(c);
    }

    public static byte[] encode(DeadLetter d) {
        return DEAD_LETTER.encode(d);
    }

    public static GenerationRequest decodeRequest(byte[] bytes) {
        return REQUEST.decode(bytes);
    }

    public static Completion decodeCompletion(byte[] bytes) {
        return COMPLETION.decode(bytes);
    }

    public static DeadLetter decodeDeadLetter(byte[] bytes) {
        return DEAD_LETTER.decode(bytes);
    }

    /** "Completion v1" if some codec knows the fingerprint, else null. */
    static String describeFingerprint(long fp) {
        for (RecordCodec<?> c : ALL) {
            if (c != null && c.knows(fp)) {
                return c.name() + " " + c.knownFingerprints().get(fp);
            }
        }
        return null;
    }
}
