package io.mistralflink.model.compute;

import io.mistralflink.model.compute.cpu.CpuBackend;

import java.io.PrintStream;

/**
 * Opens a compute backend by device name: {@code cpu}, {@code cuda} (= {@code cuda:0}), {@code cuda:N},
 * or {@code auto}: CUDA when its libraries load and a GPU answers, else the CPU, with one line on
 * stderr saying which and why. The CUDA backend is reached by reflection, so this class loads (and
 * {@code cpu} works) where the CUDA jars are missing altogether.
 */
public final class Backends {
    private Backends() {}

    public static Backend open(String device) { return open(device, 0, System.err); }

    public static Backend open(String device, PrintStream log) { return open(device, 0, log); }

    /** cpuThreads sizes the CPU backend (0: every core). */
    public static Backend open(String device, int cpuThreads) { return open(device, cpuThreads, System.err); }

    public static Backend open(String device, int cpuThreads, PrintStream log) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        java.util.function.Supplier<Backend> cpu = () -> cpuThreads > 0 ? new CpuBackend(cpuThreads) : new CpuBackend();
        if (d.equals("cpu")) return cpu.get();
        if (d.equals("auto")) {
            try {
                Backend b = cuda(0);
                log.println("[backend] auto: using " + b.name());
                return b;
            } catch (Throwable t) {
                Backend b = cpu.get();
                log.println("[backend] auto: using " + b.name() + " (CUDA unavailable: " + reason(t) + ")");
                return b;
            }
        }
        if (d.equals("cuda") || d.startsWith("cuda:")) {
            int ordinal;
            try { ordinal = d.equals("cuda") ? 0 : Integer.parseInt(d.substring(5)); }
            catch (NumberFormatException e) { throw new IllegalArgumentException("device '" + device + "': expected cuda:N with N a number"); }
            try {
                return cuda(ordinal);
            } catch (Throwable t) {
                throw new IllegalStateException("device '" + device + "' cannot be opened: " + reason(t), t);
            }
        }
        throw new IllegalArgumentException("unknown device '" + device + "' (cpu, cuda, cuda:N, auto)");
    }

    private static Backend cuda(int ordinal) throws Throwable {
        try {
            Class<?> c = Class.forName("io.mistralflink.model.compute.cuda.CudaBackend");
            return (Backend) c.getMethod("open", int.class).invoke(null, ordinal);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** One line: the innermost cause's type and message. */
    static String reason(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String m = root.getMessage();
        if (m != null) {
            m = m.strip();
            int nl = m.indexOf('\n');
            if (nl >= 0) m = m.substring(0, nl);
            if (m.length() > 160) m = m.substring(0, 160) + "...";
        }
        return root.getClass().getSimpleName() + (m == null || m.isEmpty() ? "" : ": " + m);
    }
}
