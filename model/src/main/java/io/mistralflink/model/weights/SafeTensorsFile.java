package io.mistralflink.model.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.mistralflink.model.ModelException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code .safetensors} file, memory-mapped whole with {@code java.lang.foreign} (no 2 GB limit):
 * an 8-byte little-endian header length, a JSON header of name to dtype, shape and byte offsets, then
 * the raw data.
 */
public final class SafeTensorsFile {
    private SafeTensorsFile() {}

    public static Map<String, Tensor> map(Path file, Arena arena) {
        MemorySegment all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ModelException(file + ": missing (named by the checkpoint but not found)");
        } catch (IOException e) {
            throw new ModelException(file + ": cannot be read: " + e.getMessage(), e);
        }
        if (all.byteSize() < 8) throw new ModelException(file + ": truncated (" + all.byteSize() + " bytes, no header)");
        long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen <= 0 || 8 + headerLen > all.byteSize())
            throw new ModelException(file + ": truncated or not safetensors (header of " + headerLen + " bytes in a file of " + all.byteSize() + ")");
        JsonNode header;
        try {
            header = new ObjectMapper().readTree(all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE));
        } catch (IOException e) {
            throw new ModelException(file + ": header is not valid JSON: " + e.getMessage(), e);
        }
        MemorySegment body = all.asSlice(8 + headerLen);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey().equals("__metadata__")) continue;
            String where = file + ": tensor " + e.getKey();
            JsonNode t = e.getValue();
            DType dtype = DType.of(t.path("dtype").asText(), where);
            JsonNode s = t.path("shape");
            long[] shape = new long[s.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) count *= shape[i] = s.get(i).asLong();
            long begin = t.path("data_offsets").path(0).asLong(), end = t.path("data_offsets").path(1).asLong();
            if (end - begin != count * dtype.bytes)
                throw new ModelException(where + ": data_offsets span " + (end - begin) + " bytes but shape needs " + count * dtype.bytes);
            if (end > body.byteSize())
                throw new ModelException(where + ": truncated file (tensor ends at byte " + end + ", data has " + body.byteSize() + ")");
            out.put(e.getKey(), new Tensor(e.getKey(), dtype, shape, body.asSlice(begin, end - begin)));
        }
        return out;
    }
}
