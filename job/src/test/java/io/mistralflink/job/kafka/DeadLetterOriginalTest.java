package io.mistralflink.job.kafka;

import io.mistralflink.operators.pipeline.Original;
import io.mistralflink.schemas.DeadLetter;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * An original too large for a dead letter is cut to its first bytes with the whole length and SHA-256
 * (checked against the JDK's digest of the whole), whether the dead letter cuts it or the scheduler's
 * state already did (then the length and digest it reports are the whole record's, not the cut's).
 */
class DeadLetterOriginalTest {
    private static final int LIMIT = 1 << 20;

    @Test void aLargeOriginalIsCutWithTheWholeLengthAndDigest() throws Exception {
        byte[] whole = random(3 << 20);
        DeadLetter d = KafkaIo.fitted(letter(whole, null, null), LIMIT);
        assertEquals((LIMIT - (64 << 10)) / 2, d.getOriginal().remaining());
        assertEquals(Original.KEPT, d.getOriginal().remaining(), "the scheduler's state keeps what a dead letter keeps");
        assertEquals(whole.length, d.getOriginalLength());
        assertEquals(sha256(whole), d.getOriginalSha256());
        assertArrayEquals(java.util.Arrays.copyOf(whole, d.getOriginal().remaining()), bytes(d.getOriginal()));
    }

    @Test void anOriginalCutBeforeKeepsTheWholeRecordsLengthAndDigest() throws Exception {
        byte[] whole = random(3 << 20);
        byte[] head = java.util.Arrays.copyOf(whole, Original.KEPT);
        DeadLetter kept = KafkaIo.fitted(letter(head, (long) whole.length, Original.sha256(whole)), LIMIT);
        assertArrayEquals(head, bytes(kept.getOriginal()));
        assertEquals(whole.length, kept.getOriginalLength());
        assertEquals(sha256(whole), kept.getOriginalSha256());
        DeadLetter smaller = KafkaIo.fitted(letter(head, (long) whole.length, Original.sha256(whole)), LIMIT / 2);
        assertTrue(smaller.getOriginal().remaining() < head.length, "cut again under a smaller producer limit");
        assertEquals(whole.length, smaller.getOriginalLength());
        assertEquals(sha256(whole), smaller.getOriginalSha256());
    }

    private static DeadLetter letter(byte[] original, Long length, String sha) {
        return DeadLetter.newBuilder().setRequestId("r").setReason("refused: x").setOriginal(ByteBuffer.wrap(original))
                .setOriginalLength(length).setOriginalSha256(sha).setTopic("prompts").setPartition(0).setOffset(7L).build();
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new SplittableRandom(5).nextBytes(b);
        return b;
    }

    private static String sha256(byte[] b) throws Exception { return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b)); }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
