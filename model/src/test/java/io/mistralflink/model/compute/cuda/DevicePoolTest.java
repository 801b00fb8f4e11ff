package io.mistralflink.model.compute.cuda;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pool's free lists are indexed by size class: distinct classes must get distinct, ascending indexes. */
class DevicePoolTest {
    @Test void sizeClassesHaveDistinctAscendingIndexes() {
        Map<Integer, Long> owner = new HashMap<>();
        long prevClass = 0;
        int prevIndex = -1;
        for (long bytes = 1; bytes < (1L << 40); bytes = bytes < 70000 ? bytes + 97 : bytes + bytes / 7) {
            long c = DevicePool.sizeClass(bytes);
            assertTrue(c >= bytes && c < 2 * bytes + 256, bytes + " bytes in class " + c);
            int i = DevicePool.classIndex(c);
            Long other = owner.putIfAbsent(i, c);
            assertEquals(c, other == null ? c : other, "classes " + c + " and " + other + " share index " + i);
            if (c > prevClass) assertTrue(i > prevIndex, "class " + c + " index " + i + " after " + prevClass + " index " + prevIndex);
            prevClass = c;
            prevIndex = i;
        }
    }
}
