package io.mistralflink.model.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.ModelException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * A Hugging Face checkpoint directory: {@code config.json} and either {@code model.safetensors} or
 * shards named by {@code model.safetensors.index.json}, mapped read-only for the checkpoint's life.
 */
public final class Checkpoint implements AutoCloseable {
    private final Path dir;
    private final ModelConfig config;
    private final Map<String, Tensor> tensors;
    private final Map<String, Path> fileOf = new HashMap<>();
    private final Arena arena;

    private Checkpoint(Path dir, ModelConfig config, Map<String, Tensor> tensors, Arena arena) {
        this.dir = dir; this.config = config; this.tensors = tensors; this.arena = arena;
    }

    /** A checkpoint built in memory (random benchmark models, tests). */
    public static Checkpoint of(Path dir, ModelConfig config, Map<String, Tensor> tensors, Arena arena) {
        return new Checkpoint(dir, config, tensors, arena);
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelException(dir + ": model directory not found");
        ModelConfig config = ModelConfig.load(dir);
        Arena arena = Arena.ofShared();
        Map<String, Tensor> tensors = new HashMap<>();
        Map<String, Path> fileOf = new HashMap<>();
        Path single = dir.resolve("model.safetensors"), index = dir.resolve("model.safetensors.index.json");
        try {
            if (Files.isRegularFile(single)) {
                SafeTensorsFile.map(single, arena).forEach((k, v) -> { tensors.put(k, v); fileOf.put(k, single); });
            } else if (Files.isRegularFile(index)) {
                JsonNode map;
                try { map = new ObjectMapper().readTree(index.toFile()).path("weight_map"); }
                catch (IOException e) { throw new ModelException(index + ": not valid JSON: " + e.getMessage(), e); }
                if (!map.isObject() || map.isEmpty()) throw new ModelException(index + ": field 'weight_map' is missing or empty");
                TreeSet<String> files = new TreeSet<>();
                map.forEach(f -> files.add(f.asText()));
                for (String f : files) {
                    Path p = dir.resolve(f);
                    SafeTensorsFile.map(p, arena).forEach((k, v) -> { tensors.put(k, v); fileOf.put(k, p); });
                }
                map.fieldNames().forEachRemaining(name -> {
                    if (!tensors.containsKey(name))
                        throw new ModelException(index + ": weight_map names " + name + " in " + map.get(name).asText() + " but that file does not hold it");
                });
            } else {
                throw new ModelException(dir + ": no model.safetensors and no model.safetensors.index.json");
            }
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        Checkpoint c = new Checkpoint(dir, config, tensors, arena);
        c.fileOf.putAll(fileOf);
        return c;
    }

    /** The same tensors read under another config (a narrower window, say); closing either closes both. */
    public Checkpoint withConfig(ModelConfig other) {
        Checkpoint c = new Checkpoint(dir, other, tensors, arena);
        c.fileOf.putAll(fileOf);
        return c;
    }

    public ModelConfig config() { return config; }
    public Path dir() { return dir; }

    /** The tensor of that name, checked against the shape the config implies. */
    public Tensor tensor(String name, long... expectedShape) {
        Tensor t = tensor(name);
        if (!Arrays.equals(t.shape(), expectedShape))
            throw new ModelException(fileOf.getOrDefault(name, dir) + ": tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + " but config.json implies " + Arrays.toString(expectedShape));
        return t;
    }

    /** The tensor of that name, whatever its shape. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new ModelException(dir + ": tensor " + name + " is missing from the checkpoint");
        return t;
    }

    public boolean has(String name) { return tensors.containsKey(name); }

    public long bytes() { return tensors.values().stream().mapToLong(t -> t.data().byteSize()).sum(); }

    @Override public void close() { arena.close(); }
}
