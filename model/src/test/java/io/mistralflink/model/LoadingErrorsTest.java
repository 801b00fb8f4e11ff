package io.mistralflink.model;

import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Each way a checkpoint can be unusable gives an error naming the file and the field. */
class LoadingErrorsTest {
    @TempDir Path tmp;

    private Path copy(String model) throws IOException {
        Path dir = tmp.resolve(model);
        Files.createDirectories(dir);
        try (var files = Files.list(TestModels.model(model))) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        return dir;
    }

    private static String failure(Path dir) {
        ModelException e = assertThrows(ModelException.class, () -> {
            try (Checkpoint c = Checkpoint.open(dir); CpuBackend b = new CpuBackend(1)) { Shard.whole(c, b); }
        });
        return e.getMessage();
    }

    @Test void missingWeightsFile() throws IOException {
        Path dir = copy("tiny-mistral");
        Files.delete(dir.resolve("model.safetensors"));
        assertTrue(failure(dir).contains("no model.safetensors"), failure(dir));
    }

    @Test void missingShardNamedByTheIndex() throws IOException {
        Path dir = copy("tiny-mixtral");
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        String m = failure(dir);
        assertTrue(m.contains("model-00002-of-00002.safetensors") && m.contains("missing"), m);
    }

    @Test void missingConfigAndUnknownArchitecture() throws IOException {
        Path dir = copy("tiny-mistral");
        String config = Files.readString(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), config.replace("\"model_type\": \"mistral\"", "\"model_type\": \"gpt2\""));
        String m = failure(dir);
        assertTrue(m.contains("config.json") && m.contains("model_type 'gpt2'"), m);
        Files.delete(dir.resolve("config.json"));
        assertTrue(failure(dir).contains("config.json: missing"), failure(dir));
    }

    @Test void shapeThatContradictsTheConfig() throws IOException {
        Path dir = copy("tiny-mistral");
        String config = Files.readString(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), config.replace("\"intermediate_size\": 704", "\"intermediate_size\": 768"));
        String m = failure(dir);
        assertTrue(m.contains("model.safetensors") && m.contains("mlp.") && m.contains("[704, 256]") && m.contains("[768, 256]"), m);
    }

    @Test void unsupportedDtypeAndTruncatedFile() throws IOException {
        Path dir = copy("tiny-mistral");
        Path file = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(file);
        long headerLen = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(all, 8, (int) headerLen, StandardCharsets.UTF_8);
        // Same length, another dtype: the header stays parseable and offsets stay valid.
        String bad = header.replaceFirst("\"BF16\"", "\"I8\"  ");
        byte[] changed = all.clone();
        System.arraycopy(bad.getBytes(StandardCharsets.UTF_8), 0, changed, 8, (int) headerLen);
        Files.write(file, changed);
        String m = failure(dir);
        assertTrue(m.contains("model.safetensors") && m.contains("dtype I8"), m);

        Files.write(file, java.util.Arrays.copyOf(all, all.length - 1000));
        m = failure(dir);
        assertTrue(m.contains("model.safetensors") && m.contains("truncated"), m);
        Files.write(file, java.util.Arrays.copyOf(all, 5));
        assertTrue(failure(dir).contains("truncated"), failure(dir));
    }
}
