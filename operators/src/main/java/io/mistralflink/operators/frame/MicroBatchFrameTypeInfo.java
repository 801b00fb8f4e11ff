package io.mistralflink.operators.frame;

import java.lang.reflect.Type;
import java.util.Map;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInfoFactory;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;

/**
 * Flink type information of frames; {@link MicroBatchFrame} names it through {@code @TypeInfo}, so the
 * type extractor finds it without {@code returns(...)} and frames never fall back to Kryo.
 */
public final class MicroBatchFrameTypeInfo extends TypeInformation<MicroBatchFrame> {
    private static final long serialVersionUID = 1L;

    public static final MicroBatchFrameTypeInfo INSTANCE = new MicroBatchFrameTypeInfo();

    @Override
    public boolean isBasicType() { return false; }

    @Override
    public boolean isTupleType() { return false; }

    @Override
    public int getArity() { return 1; }

    @Override
    public int getTotalFields() { return 1; }

    @Override
    public Class<MicroBatchFrame> getTypeClass() { return MicroBatchFrame.class; }

    @Override
    public boolean isKeyType() { return false; }

    @Override
    public TypeSerializer<MicroBatchFrame> createSerializer(SerializerConfig config) { return MicroBatchFrameSerializer.INSTANCE; }

    @Override
    public String toString() { return "MicroBatchFrame"; }

    @Override
    public boolean equals(Object o) { return o instanceof MicroBatchFrameTypeInfo; }

    @Override
    public int hashCode() { return MicroBatchFrameTypeInfo.class.hashCode(); }

    @Override
    public boolean canEqual(Object o) { return o instanceof MicroBatchFrameTypeInfo; }

    /** Named by {@code @TypeInfo} on {@link MicroBatchFrame}. */
    public static final class Factory extends TypeInfoFactory<MicroBatchFrame> {
        @Override
        public TypeInformation<MicroBatchFrame> createTypeInfo(Type t, Map<String, TypeInformation<?>> genericParameters) {
            return INSTANCE;
        }
    }
}
