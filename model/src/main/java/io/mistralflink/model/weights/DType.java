package io.mistralflink.model.weights;

/** The element types a checkpoint may store; weights stay in their stored type in memory. */
public enum DType {
    BF16(2), F16(2), F32(4);

    public final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    public static DType of(String safetensorsName, String where) {
        return switch (safetensorsName) {
            case "BF16" -> BF16;
            case "F16" -> F16;
            case "F32" -> F32;
            default -> throw new io.mistralflink.model.ModelException(where + ": dtype " + safetensorsName + " is not supported (BF16, F16, F32)");
        };
    }
}
