package io.mistralflink.operators.frame;

import io.mistralflink.model.sampling.SamplingParams;
import java.util.List;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * The draw column: a nullable struct per row of what {@link Draw} holds. A sampling option is one
 * child here, written and read in one line each.
 */
final class DrawColumn {
    private static final ArrowType F32 = new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
    private static final ArrowType I32 = new ArrowType.Int(32, true);
    private static final ArrowType I64 = new ArrowType.Int(64, true);

    static final List<Field> FIELDS = List.of(
            child("temperature", F32), child("top_p", F32), child("top_k", I32), child("min_p", F32), child("seed", I64), child("step", I32));

    private DrawColumn() {}

    private static Field child(String name, ArrowType type) {
        return new Field(name, FieldType.nullable(type), null); // null where the row draws nothing
    }

    static void write(StructVector v, Draw[] draws) {
        v.allocateNew();
        for (int r = 0; r < draws.length; r++) {
            Draw d = draws[r];
            if (d == null) {
                v.setNull(r);
                continue;
            }
            SamplingParams p = d.params();
            v.setIndexDefined(r);
            f32(v, "temperature").setSafe(r, p.temperature());
            f32(v, "top_p").setSafe(r, p.topP());
            i32(v, "top_k").setSafe(r, p.topK());
            f32(v, "min_p").setSafe(r, p.minP());
            ((BigIntVector) v.getChild("seed")).setSafe(r, p.seed());
            i32(v, "step").setSafe(r, d.step());
        }
        v.setValueCount(draws.length);
    }

    static void read(StructVector v, Draw[] into) {
        for (int r = 0; r < into.length; r++) {
            if (v.isNull(r)) continue;
            SamplingParams p = new SamplingParams(f32(v, "temperature").get(r), f32(v, "top_p").get(r), i32(v, "top_k").get(r),
                    f32(v, "min_p").get(r), ((BigIntVector) v.getChild("seed")).get(r), 1, false, List.of(), new int[0]);
            into[r] = new Draw(p, i32(v, "step").get(r));
        }
    }

    private static Float4Vector f32(StructVector v, String name) { return (Float4Vector) child(v, name); }

    private static IntVector i32(StructVector v, String name) { return (IntVector) child(v, name); }

    private static org.apache.arrow.vector.FieldVector child(StructVector v, String name) {
        var c = v.getChild(name);
        if (c == null) throw new IllegalArgumentException("draw column without " + name);
        return (org.apache.arrow.vector.FieldVector) c;
    }
}
