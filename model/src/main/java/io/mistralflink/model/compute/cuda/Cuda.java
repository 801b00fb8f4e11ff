package io.mistralflink.model.compute.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

import static org.bytedeco.cuda.global.cudart.cuGetErrorString;
import static org.bytedeco.cuda.global.cudart.cuMemAlloc;

/** Small helpers over the JavaCPP CUDA presets: error checks and raw addresses as pointers. */
final class Cuda {
    private Cuda() {}

    /** A failed CUDA, cuBLAS or NVRTC call. */
    static final class CudaException extends RuntimeException {
        CudaException(String message) { super(message); }
    }

    /** A raw address (device or host) handed to a call that takes a {@link Pointer}. */
    static final class Addr extends Pointer {
        Addr(long address) { this.address = address; }
    }

    static void check(int status, String what) {
        if (status == 0) return;
        String name = "";
        try (BytePointer p = new BytePointer((Pointer) null)) {
            org.bytedeco.javacpp.PointerPointer<BytePointer> pp = new org.bytedeco.javacpp.PointerPointer<>(1);
            if (cuGetErrorString(status, pp) == 0 && pp.get(0) != null) name = pp.get(BytePointer.class, 0).getString();
        } catch (Throwable ignored) { }
        throw new CudaException(what + " failed: CUDA error " + status + (name.isEmpty() ? "" : " (" + name + ")"));
    }

    static void checkCublas(int status, String what) {
        if (status != 0) throw new CudaException(what + " failed: cuBLAS status " + status);
    }

    static long malloc(long bytes) {
        long[] p = new long[1];
        check(cuMemAlloc(p, Math.max(bytes, 1)), "cuMemAlloc(" + bytes + " bytes)");
        return p[0];
    }

    static long align(long bytes) { return (bytes + 255) & ~255L; }
}
