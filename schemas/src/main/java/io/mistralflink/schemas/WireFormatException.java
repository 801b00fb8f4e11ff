package io.mistralflink.schemas;

/**
 * Bytes that are not a decodable single-object-encoded record of the expected type.
 * {@link #kind()} says why, so that callers (the dead-letter path) can classify without parsing
 * the message.
 */
public final class WireFormatException extends RuntimeException {

    public enum Kind {
        /** Empty, shorter than the 10-byte header, or not starting with 0xC3 0x01. */
        NOT_AVRO,
        /** A single-object header whose fingerprint is not a known version of any of our records. */
        UNKNOWN_SCHEMA,
        /** A known fingerprint, but of another record type (e.g. a Completion on the prompts topic). */
        WRONG_RECORD_TYPE,
        /** Header and fingerprint fine, but the body does not decode with the writer's schema. */
        CORRUPT
    }

    private final Kind kind;

    public WireFormatException(Kind kind, String message) {
        this(kind, message, null);
    }

    public WireFormatException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
