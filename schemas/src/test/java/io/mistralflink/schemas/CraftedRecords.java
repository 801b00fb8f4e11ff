package io.mistralflink.schemas;

import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Hostile wire records, for the tests of bounded decoding (here) and of the Kafka job that must dead-letter them. */
public final class CraftedRecords {
    private CraftedRecords() {}

    /**
     * A GenerationRequest of 49 bytes: a valid header and fields up to {@code stop_token_ids}, which
     * declares a block of two billion ints (Avro's decoder would allocate a list of that size).
     */
    public static byte[] twoBillionStopTokenIds() {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] real = WireCodec.encode(Samples.request());
            out.write(real, 0, RecordCodec.HEADER_LENGTH);
            BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
            e.writeString("poison");                 // request_id
            e.writeIndex(1); e.writeString("The jury said that"); // prompt
            e.writeIndex(0);                         // messages: null
            e.writeInt(8);                           // max_new_tokens
            for (int i = 0; i < 4; i++) e.writeIndex(0); // temperature, top_p, top_k, seed: null
            e.writeLong(0);                          // stop: empty
            e.writeLong(2_000_000_000L);             // stop_token_ids: a block of 2e9 items, and nothing after
            e.flush();
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code r} encoded, its prompt's first "XX" turned into a UTF-8 lead byte followed by '(': malformed. */
    public static byte[] invalidUtf8(GenerationRequest r) {
        if (!r.getPrompt().contains("XX")) throw new IllegalArgumentException("the prompt must hold XX to spoil");
        byte[] bytes = WireCodec.encode(r);
        int at = indexOf(bytes, "XX".getBytes(StandardCharsets.UTF_8));
        bytes[at] = (byte) 0xC3;
        bytes[at + 1] = '(';
        return bytes;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
