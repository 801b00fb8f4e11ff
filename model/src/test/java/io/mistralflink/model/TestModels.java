package io.mistralflink.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where the project's example checkpoints and the Hugging Face reference live, from any module. */
public final class TestModels {
    private TestModels() {}

    public static Path root() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("examples/models"))) p = p.getParent();
        if (p == null) throw new IllegalStateException("examples/models not found above " + Path.of("").toAbsolutePath());
        return p;
    }

    public static Path model(String name) { return root().resolve("examples/models").resolve(name); }

    public static Path brown() { return root().resolve("examples/datasets/brown.jsonl.xz"); }

    private static JsonNode reference;

    public static synchronized JsonNode reference() {
        if (reference == null) {
            try { reference = new ObjectMapper().readTree(root().resolve("model/src/test/resources/reference/hf-reference.json").toFile()); }
            catch (IOException e) { throw new UncheckedIOException(e); }
        }
        return reference;
    }

    public static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    public static double[] doubles(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asDouble();
        return out;
    }
}
