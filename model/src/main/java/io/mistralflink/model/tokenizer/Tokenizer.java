package io.mistralflink.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.mistralflink.model.ModelException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A checkpoint's {@code tokenizer.json}, through the Hugging Face tokenizers library (DJL binding). */
public final class Tokenizer implements AutoCloseable {
    static {
        // The native library ships in the jar; never let DJL reach for the network.
        if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
    }

    private final HuggingFaceTokenizer hf;

    private Tokenizer(HuggingFaceTokenizer hf) { this.hf = hf; }

    public static Tokenizer load(Path modelDir) {
        Path file = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) throw new ModelException(file + ": missing (a model directory needs tokenizer.json)");
        try {
            return new Tokenizer(HuggingFaceTokenizer.newInstance(file, Map.of(
                    "addSpecialTokens", "true", "truncation", "false", "padding", "false", "maxLength", "100000000")));
        } catch (IOException | RuntimeException e) {
            throw new ModelException(file + ": cannot be loaded: " + e.getMessage(), e);
        }
    }

    /** Token ids of text, with BOS as the tokenizer's post-processor adds it. */
    public int[] encode(String text) {
        long[] ids = hf.encode(text).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    /** Text of ids, special tokens skipped. */
    public String decode(int[] ids) { return decode(ids, 0, ids.length); }

    public String decode(int[] ids, int from, int to) {
        long[] l = new long[to - from];
        for (int i = from; i < to; i++) l[i - from] = ids[i];
        return hf.decode(l, true);
    }

    @Override public void close() { hf.close(); }
}
