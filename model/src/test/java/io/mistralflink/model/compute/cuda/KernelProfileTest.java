package io.mistralflink.model.compute.cuda;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The profile's report (no GPU): per name the count and sum of what was added, names by total time, the idle beside the span. */
class KernelProfileTest {
    @Test void reportSumsByNameLargestFirst() {
        KernelProfile p = new KernelProfile();
        SplittableRandom r = new SplittableRandom(5);
        List<String> names = List.of("gemm", "attention", "rms");
        double[] want = new double[3];
        int[] counts = new int[3];
        for (int i = 0; i < 300; i++) {
            int n = r.nextInt(3);
            double ms = (n + 1) * r.nextDouble();   // gemm least, rms most on average
            want[n] += ms;
            counts[n]++;
            p.add(names.get(n), ms);
        }
        double sum = want[0] + want[1] + want[2];
        p.span(sum + 2.0);
        assertEquals(sum, p.sum(), 1e-9);
        String[] lines = p.report().split("\n");
        assertEquals(4, lines.length);
        assertTrue(lines[0].contains(String.format("between them %.3f ms", 2.0)), lines[0]);
        double prev = Double.POSITIVE_INFINITY;
        for (int l = 1; l < 4; l++) {
            String[] f = lines[l].trim().split("\\s+");
            double ms = Double.parseDouble(f[1]);
            int n = names.indexOf(f[f.length - 1]);
            assertEquals(want[n], ms, 1e-3, lines[l]);
            assertEquals(counts[n], Integer.parseInt(f[4]), lines[l]);
            assertTrue(ms <= prev, "not largest first: " + lines[l]);
            prev = ms;
        }
    }
}
