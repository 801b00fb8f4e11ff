package io.mistralflink.operators.pipeline;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * The bytes of a request's record as its state keeps them, so that a dead letter written after a
 * restore (a culprit, see {@link FailureLog}) still carries its original. State stays bounded: a
 * record longer than {@link #KEPT} keeps its first bytes, and its whole length and SHA-256 go into
 * the request's metadata ({@link #LENGTH}, {@link #SHA256}), which the dead letter reports as it
 * reports a cut original of its own.
 */
public final class Original {
    /** Bytes kept: what a dead letter keeps of an original under the producer's default max.request.size (1 MiB less 64 KiB, halved). */
    public static final int KEPT = ((1 << 20) - (64 << 10)) / 2;
    /** Metadata keys (reserved: the job strips {@code mistral-flink.} keys from what it writes). */
    public static final String LENGTH = "mistral-flink.original-length", SHA256 = "mistral-flink.original-sha256";

    private Original() {}

    /** The bytes {@code source} keeps in state. */
    static byte[] kept(byte[] source) {
        return source == null || source.length <= KEPT ? source : Arrays.copyOf(source, KEPT);
    }

    /** {@code metadata}, with the whole length and SHA-256 of a {@code source} that state cuts. */
    static Map<String, String> describe(Map<String, String> metadata, byte[] source) {
        if (source == null || source.length <= KEPT) return metadata;
        Map<String, String> m = new HashMap<>(metadata);
        m.put(LENGTH, Long.toString(source.length));
        m.put(SHA256, sha256(source));
        return Map.copyOf(m);
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JDK has SHA-256
        }
    }
}
