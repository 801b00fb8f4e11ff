package io.mistralflink.model.compute.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
import static org.bytedeco.cuda.global.cudart.cuFuncSetAttribute;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.nvrtc.*;

/**
 * The backend's CUDA C kernels, kept as resources beside this class ({@link #SOURCES}) and compiled at
 * run time by NVRTC for the device's own architecture ({@code --gpu-architecture=sm_XY}, from its
 * compute capability), then loaded as cubins.
 */
final class Kernels {
    /** The kernel sources; {@code common.cuh} is their one shared header. */
    static final List<String> SOURCES = List.of("elementwise.cu", "attention.cu", "prefill.cu", "gemv.cu", "moe.cu", "sampling.cu");
    static final String HEADER = "common.cuh";

    /** A loaded kernel and its parameter count (checked at each launch). */
    record Kernel(CUfunc_st f, int arity) {}

    private final Map<String, Kernel> kernels = new HashMap<>();

    Kernels(String arch) {
        String header = resource(HEADER);
        for (String file : SOURCES) {
            CUmod_st module = new CUmod_st();
            try (BytePointer cubin = compile(file, resource(file), header, arch)) {
                check(cuModuleLoadData(module, cubin), "cuModuleLoadData(" + file + ")");
            }
            Map<String, Integer> arity = arities(resource(file));
            for (String name : kernelNames(resource(file))) {
                CUfunc_st f = new CUfunc_st();
                check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
                kernels.put(name, new Kernel(f, arity.get(name)));
            }
        }
    }

    private final Map<CUfunc_st, Integer> sharedAllowed = new HashMap<>();

    /** Lets kernel {@code k} take {@code bytes} of dynamic shared memory (beyond 48 KB a kernel must ask for it). */
    void allowSharedMemory(Kernel k, int bytes) {
        if (sharedAllowed.getOrDefault(k.f(), 0) >= bytes) return;
        check(cuFuncSetAttribute(k.f(), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes), "cuFuncSetAttribute(shared memory " + bytes + ")");
        sharedAllowed.put(k.f(), bytes);
    }

    Kernel get(String name) {
        Kernel k = kernels.get(name);
        if (k == null) throw new IllegalArgumentException("no kernel " + name);
        return k;
    }

    static String resource(String name) {
        try (InputStream in = Kernels.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("kernel source " + name + " missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** How many parameters kernel {@code name} takes (launches are checked against it). */
    /** The head of a kernel up to its parameter list: {@code extern "C" __global__ void [__launch_bounds__(...)] name}. */
    private static final String KERNEL = "extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s*)?(\\w+)\\s*";

    /** Parameter counts of the {@code extern "C" __global__} functions of a source. */
    static Map<String, Integer> arities(String source) {
        var m = java.util.regex.Pattern.compile(KERNEL + "\\(([^)]*)\\)").matcher(source);
        Map<String, Integer> out = new HashMap<>();
        while (m.find()) out.put(m.group(1), m.group(2).isBlank() ? 0 : m.group(2).split(",").length);
        return out;
    }

    /** Names of the {@code extern "C" __global__} functions of a source. */
    static List<String> kernelNames(String source) {
        var m = java.util.regex.Pattern.compile(KERNEL + "\\(").matcher(source);
        List<String> out = new java.util.ArrayList<>();
        while (m.find()) out.add(m.group(1));
        return out;
    }

    private static BytePointer compile(String file, String source, String header, String arch) {
        _nvrtcProgram prog = new _nvrtcProgram();
        checkNvrtc(nvrtcCreateProgram(prog, new BytePointer(source), new BytePointer(file), 1,
                new PointerPointer<>(header), new PointerPointer<>(HEADER)), "nvrtcCreateProgram(" + file + ")");
        try {
            String[] options = {"--gpu-architecture=" + arch, "--std=c++17", "-default-device"};
            int status = nvrtcCompileProgram(prog, options.length, new PointerPointer<>(options));
            if (status != NVRTC_SUCCESS) {
                SizeTPointer n = new SizeTPointer(1);
                nvrtcGetProgramLogSize(prog, n);
                BytePointer log = new BytePointer(n.get());
                nvrtcGetProgramLog(prog, log);
                throw new Cuda.CudaException("NVRTC could not compile " + file + " for " + arch + ":\n" + log.getString());
            }
            SizeTPointer size = new SizeTPointer(1);
            checkNvrtc(nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize");
            BytePointer cubin = new BytePointer(size.get());
            checkNvrtc(nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN");
            return cubin;
        } finally {
            nvrtcDestroyProgram(prog);
        }
    }

    private static void checkNvrtc(int status, String what) {
        if (status != NVRTC_SUCCESS) throw new Cuda.CudaException(what + " failed: " + nvrtcGetErrorString(status).getString());
    }
}
