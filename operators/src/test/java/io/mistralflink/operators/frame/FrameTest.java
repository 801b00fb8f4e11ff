package io.mistralflink.operators.frame;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FrameTest {
    @Test
    void builderPerRowAndMatrixAgree() {
        MicroBatchFrame perRow = MicroBatchFrame.builder().meta("lane", "1").width(2)
                .row("a", 0, 10, 0, new float[] {1, 2})
                .row("b", 5, 11, MicroBatchFrame.FLAG_LOGITS, new float[] {3, 4})
                .build();
        MicroBatchFrame matrix = MicroBatchFrame.builder().meta(Map.of("lane", "1")).width(2)
                .row("a", 0, 10, 0)
                .row("b", 5, 11, MicroBatchFrame.FLAG_LOGITS)
                .values(new float[] {1, 2, 3, 4})
                .build();
        assertEquals(perRow, matrix);
        assertEquals(perRow.hashCode(), matrix.hashCode());
        assertEquals(2, perRow.rows());
        assertEquals(2, perRow.width());
        assertEquals("b", perRow.requestId(1));
        assertEquals(5, perRow.position(1));
        assertEquals(11, perRow.token(1));
        assertTrue(perRow.hasFlag(1, MicroBatchFrame.FLAG_LOGITS));
        assertEquals(3f, perRow.value(1, 0));
        assertArrayEquals(new float[] {3, 4}, perRow.row(1));
        assertEquals(List.of("a", "b"), perRow.requestIds());
        assertEquals(4f, perRow.valuesSegment().getAtIndex(ValueLayout.JAVA_FLOAT, 3));
        assertEquals("1", perRow.meta("lane"));
    }

    @Test
    void immutable() {
        float[] values = {1, 2};
        MicroBatchFrame f = MicroBatchFrame.builder().width(2).row("a", 0, 1, 0).values(values).build();
        values[0] = 9;
        f.values()[1] = 9;
        f.positions()[0] = 9;
        assertArrayEquals(new float[] {1, 2}, f.values());
        assertEquals(0, f.position(0));
        assertThrows(UnsupportedOperationException.class, () -> f.meta().put("x", "y"));
        assertThrows(IllegalArgumentException.class, () -> f.valuesSegment().set(ValueLayout.JAVA_FLOAT, 0, 3f));
    }

    @Test
    void withMetaAndWithValuesDeriveNewFrames() {
        MicroBatchFrame f = FrameTestData.frame(4, 3, 1);
        MicroBatchFrame staged = f.withMeta(MicroBatchFrame.META_STAGE, "1");
        assertEquals("1", staged.meta(MicroBatchFrame.META_STAGE));
        assertEquals("0", f.meta(MicroBatchFrame.META_STAGE));
        assertNotEquals(f, staged);
        MicroBatchFrame logits = f.withValues(5, new float[20]);
        assertEquals(5, logits.width());
        assertEquals(f.requestIds(), logits.requestIds());
        assertThrows(IllegalArgumentException.class, () -> f.withValues(5, new float[19]));
    }

    @Test
    void builderRejectsInconsistentValues() {
        assertThrows(IllegalStateException.class, () -> MicroBatchFrame.builder().width(2).row("a", 0, 1, 0).build());
        assertThrows(IllegalArgumentException.class, () -> MicroBatchFrame.builder().width(2).row("a", 0, 1, 0, new float[3]));
        assertThrows(IllegalArgumentException.class,
                () -> MicroBatchFrame.builder().width(2).row("a", 0, 1, 0).values(new float[3]).build());
        assertThrows(IllegalStateException.class,
                () -> MicroBatchFrame.builder().width(1).row("a", 0, 1, 0, new float[1]).row("b", 0, 1, 0));
    }

    @Test
    void tokensOnlyFrame() {
        MicroBatchFrame f = MicroBatchFrame.builder().row("a", 7, 42, 1).row("b", 8, 43, 0).build();
        assertEquals(0, f.width());
        assertEquals(0, f.values().length);
        assertSame(f, f);
    }
}
