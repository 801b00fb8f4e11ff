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

    /** tiny-mistral with a Mistral-style chat template (its files linked into a temporary directory). */
    public static synchronized Path chatModel() {
        try {
            Path dir = Files.createTempDirectory("tiny-mistral-chat-");
            dir.toFile().deleteOnExit();
            try (var files = Files.list(model("tiny-mistral"))) {
                for (Path f : files.toList())
                    if (!f.getFileName().toString().equals("tokenizer_config.json")) Files.createSymbolicLink(dir.resolve(f.getFileName()), f);
            }
            try (var in = TestModels.class.getResourceAsStream("/models/tiny-mistral-chat/tokenizer_config.json")) {
                Files.copy(in, dir.resolve("tokenizer_config.json"));
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Path brown() { return root().resolve("examples/datasets/brown.jsonl.xz"); }

    /** The paragraphs (lines of more than 40 characters) of the Brown corpus's first documents, 400 or a few more. */
    public static java.util.List<String> brownParagraphs() {
        java.util.List<String> out = new java.util.ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(new org.tukaani.xz.XZInputStream(Files.newInputStream(brown())),
                java.nio.charset.StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null && out.size() < 400; )
                for (String p : json.readTree(line).get("text").asText().split("\n")) if (p.length() > 40) out.add(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** The Brown documents of examples/datasets, by id (their text). */
    public static java.util.Map<String, String> brownDocuments() {
        java.util.Map<String, String> docs = new java.util.HashMap<>();
        ObjectMapper json = new ObjectMapper();
        try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(new org.tukaani.xz.XZInputStream(Files.newInputStream(brown())),
                java.nio.charset.StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                JsonNode d = json.readTree(line);
                docs.put(d.get("id").asText(), d.get("text").asText());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return docs;
    }

    /** The reference's perplexity input of a document: its first 1,024 tokens of BOS + text + EOS ({@code tokens}: BOS + text). */
    public static int[] evalIds(int[] tokens, int eosId) {
        int[] ids = java.util.Arrays.copyOf(tokens, Math.min(tokens.length + 1, 1024));
        if (ids.length > tokens.length) ids[tokens.length] = eosId;
        return ids;
    }

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
