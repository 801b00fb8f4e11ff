package io.mistralflink.model.tokenizer;

import java.util.Arrays;

/**
 * Turns a growing list of token ids into text increments. A byte-fallback tokenizer may split one
 * character over several tokens; while the tail decodes to a replacement character the increment is
 * held back, so no half of a UTF-8 character is ever emitted. Decodes only a short trailing window.
 */
public final class StreamingDetokenizer {
    private final Tokenizer tokenizer;
    private int[] ids = new int[16];
    private int size, prefix, read;

    public StreamingDetokenizer(Tokenizer tokenizer) { this.tokenizer = tokenizer; }

    /** Adds a token and returns the text it completes (possibly empty). */
    public String accept(int id) {
        if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
        ids[size++] = id;
        String before = tokenizer.decode(ids, prefix, read);
        String now = tokenizer.decode(ids, prefix, size);
        if (now.length() > before.length() && !now.endsWith("\uFFFD")) {
            prefix = read;
            read = size;
            return now.substring(before.length());
        }
        return "";
    }
}
