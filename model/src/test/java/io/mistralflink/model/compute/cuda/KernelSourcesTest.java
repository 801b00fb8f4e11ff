package io.mistralflink.model.compute.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every kernel source compiles for sm_90 with the toolkit's nvcc (PTX only: no driver or NVRTC
 * library needed), exactly as NVRTC sees it at run time: the sources and their one header, nothing
 * else on the include path. Skips only where nvcc is not installed.
 */
class KernelSourcesTest {
    static Path nvcc() {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv("CUDA_HOME");
        if (env != null) candidates.add(Path.of(env, "bin", "nvcc"));
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) if (!dir.isEmpty()) candidates.add(Path.of(dir, "nvcc"));
        candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
        for (Path p : candidates) if (Files.isExecutable(p)) return p;
        return null;
    }

    @Test void everyKernelCompilesForSm90() throws Exception {
        Path nvcc = nvcc();
        Assumptions.assumeTrue(nvcc != null, "nvcc is not installed on this machine: kernel sources not compiled");
        Path dir = Files.createTempDirectory("kernels");
        Files.writeString(dir.resolve(Kernels.HEADER), Kernels.resource(Kernels.HEADER));
        int kernels = 0;
        for (String file : Kernels.SOURCES) {
            String src = Kernels.resource(file);
            Files.writeString(dir.resolve(file), src);
            Path ptx = dir.resolve(file + ".ptx");
            Process p = new ProcessBuilder(nvcc.toString(), "--ptx", "-arch=sm_90", "-std=c++17", "-I", dir.toString(),
                    dir.resolve(file).toString(), "-o", ptx.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc timed out on " + file);
            assertEquals(0, p.exitValue(), file + " does not compile:\n" + out);
            String code = Files.readString(ptx);
            for (String name : Kernels.kernelNames(src)) {
                assertTrue(code.contains(".entry " + name), file + ": no entry " + name + " in the PTX");
                kernels++;
            }
        }
        assertTrue(kernels >= 15, "found only " + kernels + " kernels");
        try (var s = Files.list(dir)) { for (Path f : s.toList()) Files.delete(f); }
        Files.delete(dir);
    }

    /**
     * Every launch in CudaBackend and its kernel families passes as many arguments as its kernel takes (the backend checks this at
     * run time too; here it is checked against the source of each call, without a GPU).
     */
    @Test void launchesPassEveryArgument() throws IOException {
        java.util.Map<String, Integer> arity = new java.util.HashMap<>();
        for (String file : Kernels.SOURCES) arity.putAll(Kernels.arities(Kernels.resource(file)));
        assertEquals(13, arity.get("gemv1"));
        assertEquals(9, arity.get("swiglu1"));
        assertEquals(4, arity.get("embed"));
        // CudaBackend and its kernel families (CudaAttention, CudaMoe, CudaSampling, ...)
        StringBuilder all = new StringBuilder();
        try (var files = Files.list(io.mistralflink.model.TestModels.root().resolve("model/src/main/java/io/mistralflink/model/compute/cuda"))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) all.append(Files.readString(f)).append('\n');
        }
        String code = all.toString().replaceAll("\\s+", " ");
        // a literal kernel name, or a family whose kernel CudaMatmul.smallKernel picks by rows (each of its sizes checked)
        var m = java.util.regex.Pattern.compile("k\\((smallKernel\\()?\"(\\w+)\"(?:, [\\w.]+\\))?, ((?:[^;])*?)\\);").matcher(code);
        int checked = 0;
        while (m.find()) {
            // arguments after grid x, y, z, block and shared-memory size, split at top-level commas
            String s = m.group(3);
            List<String> parts = topLevel(s);
            if (parts.size() == 6 && parts.get(5).strip().equals("args")) continue;   // a long[] built at run time (k() checks its length)
            for (String name : m.group(1) == null ? List.of(m.group(2)) : List.of(m.group(2) + 8, m.group(2) + 16, m.group(2) + 32)) {
                assertNotNull(arity.get(name), "no kernel " + name);
                assertEquals(arity.get(name).intValue(), parts.size() - 5, "launch of " + name + ": " + s);
                checked++;
            }
        }
        // CudaMatmul's launches of the kernel gemmKernel picks (fn): every gemm_small* form
        var f = java.util.regex.Pattern.compile("cu\\.k\\(fn, (smallBlocks(?:[^;])*?)\\);").matcher(code);
        int small = 0;
        while (f.find()) {
            int args = topLevel(f.group(1)).size() - 5;
            for (String name : List.of("gemm_small8", "gemm_small16", "gemm_small32", "gemm_small32n")) assertEquals(arity.get(name).intValue(), args, "launch of " + name);
            small++;
        }
        assertEquals(2, small, "CudaMatmul's gemm_small launches");
        assertTrue(checked >= 14, "checked " + checked + " launches");
    }

    /** A launch's arguments split at its top-level commas. */
    private static List<String> topLevel(String s) {
        List<String> parts = new ArrayList<>();
        int depth = 0, from = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == ',' && depth == 0) { parts.add(s.substring(from, i)); from = i + 1; }
        }
        parts.add(s.substring(from));
        return parts;
    }

    @Test void sourcesIncludeNoSystemHeaders() throws IOException {
        for (String file : Kernels.SOURCES)
            for (String line : Kernels.resource(file).lines().toList())
                if (line.startsWith("#include")) assertEquals("#include \"common.cuh\"", line.strip(), file + " includes more than common.cuh");
    }
}
