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

    /** The step budget by device name agrees with the opened backend's own (auto: whichever it opens). */
    @Test void stepBudgetComesFromTheBackend() {
        assertEquals(Backends.CPU_STEP_TOKENS, Backends.stepTokens("cpu"));
        assertEquals(Backends.GPU_STEP_TOKENS, Backends.stepTokens("cuda"));
        assertEquals(Backends.GPU_STEP_TOKENS, Backends.stepTokens("cuda:1,2"));
        assertTrue(Backends.GPU_STEP_TOKENS > Backends.CPU_STEP_TOKENS);
        try (Backend b = Backends.open("cpu")) { assertEquals(Backends.stepTokens("cpu"), b.stepTokens()); }
        try (Backend b = Backends.open("auto", new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8))) {
            assertEquals(Backends.stepTokens("auto"), b.stepTokens(), b.name());
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
        for (String bad : new String[]{"tpu", "cuda:x", "cuda:0,", "cuda:-1", "cuda:0,a"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> Backends.checkName(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        for (String good : new String[]{"cpu", "auto", "cuda", "cuda:3", "CUDA:0, 2"}) Backends.checkName(good);
        // a list places pipeline stages; the engine alone takes one device
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.open("cuda:0,1"));
        assertTrue(e.getMessage().contains("pipeline stages"), e.getMessage());
    }

    /** Pipeline subtasks (slot = stage x parallelism + subtask) take the listed GPUs, or all the host's, in turn. */
    @Test void stagesSpreadOverGpus() {
        String[] listed = new String[5], all = new String[5], auto = new String[5];
        for (int slot = 0; slot < 5; slot++) {
            listed[slot] = Backends.forSlot("cuda:1,3", slot, () -> 4);
            all[slot] = Backends.forSlot("cuda", slot, () -> 2);
            auto[slot] = Backends.forSlot("auto", slot, () -> 3);
            assertEquals("cuda:2", Backends.forSlot("cuda:2", slot, () -> 4));
            assertEquals("cpu", Backends.forSlot("cpu", slot, () -> 4));
            // no usable GPU: the name stays, so opening it fails (cuda) or falls back (auto) as before
            assertEquals("cuda", Backends.forSlot("cuda", slot, () -> 0));
            assertEquals("auto", Backends.forSlot("auto", slot, () -> 0));
        }
        assertArrayEquals(new String[]{"cuda:1", "cuda:3", "cuda:1", "cuda:3", "cuda:1"}, listed);
        assertArrayEquals(new String[]{"cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"}, all);
        assertArrayEquals(new String[]{"cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1"}, auto);
    }
}
