package io.mistralflink.operators.frame;

import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.hash.ArrowBufHasher;
import org.apache.arrow.vector.ExtensionTypeVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.ExtensionTypeRegistry;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * The canonical Arrow extension type {@code arrow.fixed_shape_tensor} (storage
 * {@code FixedSizeList<T>[prod(shape)]}, metadata {@code {"shape":[...]}}). Arrow Java 19 has no class
 * for it, so frames bring their own; readers in other languages (pyarrow) see a real tensor column.
 * Only {@code shape} is interpreted; {@code dim_names}/{@code permutation} are not written.
 */
public final class FixedShapeTensorType extends ArrowType.ExtensionType {
    public static final String NAME = "arrow.fixed_shape_tensor";
    private static final Pattern SHAPE = Pattern.compile("\"shape\"\\s*:\\s*\\[([^\\]]*)]");

    private final int[] shape;

    public FixedShapeTensorType(int... shape) {
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
        }
        this.shape = shape.clone();
    }

    /** Registers the type once per JVM so that IPC readers rebuild it from field metadata. */
    public static void register() {
        if (!(ExtensionTypeRegistry.lookup(NAME) instanceof FixedShapeTensorType)) {
            ExtensionTypeRegistry.register(new FixedShapeTensorType());
        }
    }

    public int[] shape() { return shape.clone(); }

    /** Number of elements per row: the storage list size. */
    public int size() {
        int n = 1;
        for (int d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    @Override
    public ArrowType storageType() { return new ArrowType.FixedSizeList(size()); }

    @Override
    public String extensionName() { return NAME; }

    @Override
    public boolean extensionEquals(ExtensionType other) { return other instanceof FixedShapeTensorType t && Arrays.equals(shape, t.shape); }

    @Override
    public String serialize() {
        StringBuilder sb = new StringBuilder("{\"shape\":[");
        for (int i = 0; i < shape.length; i++) sb.append(i == 0 ? "" : ",").append(shape[i]);
        return sb.append("]}").toString();
    }

    @Override
    public ArrowType deserialize(ArrowType storageType, String serializedData) {
        Matcher m = SHAPE.matcher(serializedData);
        if (!m.find()) throw new IllegalArgumentException(NAME + " metadata without shape: " + serializedData);
        String body = m.group(1).trim();
        int[] dims = body.isEmpty()
                ? new int[0]
                : Arrays.stream(body.split(",")).mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        FixedShapeTensorType t = new FixedShapeTensorType(dims);
        if (!(storageType instanceof ArrowType.FixedSizeList l) || l.getListSize() != t.size()) {
            throw new IllegalArgumentException(NAME + " " + serializedData + " over storage " + storageType);
        }
        return t;
    }

    @Override
    public FieldVector getNewVector(String name, FieldType fieldType, BufferAllocator allocator) {
        FieldType storage = new FieldType(fieldType.isNullable(), storageType(), fieldType.getDictionary(), fieldType.getMetadata());
        return new Vector(name, allocator, new FixedSizeListVector(name, allocator, storage, null));
    }

    /** Vector of the extension type: a thin wrapper; frames read and write the storage directly. */
    public static final class Vector extends ExtensionTypeVector<FixedSizeListVector> {
        public Vector(String name, BufferAllocator allocator, FixedSizeListVector storage) { super(name, allocator, storage); }

        @Override
        public Object getObject(int index) { return getUnderlyingVector().getObject(index); }

        @Override
        public int hashCode(int index) { return getUnderlyingVector().hashCode(index); }

        @Override
        public int hashCode(int index, ArrowBufHasher hasher) { return getUnderlyingVector().hashCode(index, hasher); }
    }
}
