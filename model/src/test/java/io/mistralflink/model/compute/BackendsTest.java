package io.mistralflink.model.compute;

import io.mistralflink.model.compute.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class BackendsTest {
    @Test void cpuIsCpu() {
        try (Backend b = Backends.open("cpu")) { assertInstanceOf(CpuBackend.class, b); }
    }

    /** Here (no GPU, no driver) auto must fall back to the CPU with one line saying why; on a GPU machine it picks CUDA. */
    @Test void autoFallsBackCleanlyOrPicksCuda() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (Backend b = Backends.open("auto", new PrintStream(err, true, StandardCharsets.UTF_8))) {
            String line = err.toString(StandardCharsets.UTF_8);
            assertEquals(1, line.lines().count(), "one line: " + line);
            assertTrue(line.startsWith("[backend] auto: using "), line);
            if (b instanceof CpuBackend) assertTrue(line.contains("CUDA unavailable: "), line);
            else assertTrue(b.name().startsWith("cuda:0"), b.name());
            System.out.println(line.strip());
        }
    }

    @Test void explicitCudaFailsWithAReasonWhereThereIsNoGpu() {
        if (System.getenv("MISTRALFLINK_GPU_TESTS") != null) return;
        try {
            Backend b = Backends.open("cuda:0");
            b.close();   // a GPU is here after all: nothing to check
        } catch (IllegalStateException e) {
            assertTrue(e.getMessage().startsWith("device 'cuda:0' cannot be opened: "), e.getMessage());
        }
    }

    @Test void badNamesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Backends.open("tpu"));
        assertThrows(IllegalArgumentException.class, () -> Backends.open("cuda:x"));
    }
}
