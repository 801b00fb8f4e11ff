package io.mistralflink.model.compute;

import io.mistralflink.model.compute.cpu.CpuBackend;

import java.io.PrintStream;

/**
 * Opens a compute backend by device name: {@code cpu}, {@code cpu:bf16} (the CPU with oneDNN's bf16
 * matmuls for many rows: faster, not bitwise batch invariant), {@code cuda} (= {@code cuda:0}), {@code cuda:N},
 * or {@code auto}: CUDA when its libraries load and a GPU answers, else the CPU, with one line on
 * stderr saying which and why. The CUDA backend is reached by reflection, so this class loads (and
 * {@code cpu} works) where the CUDA jars are missing altogether. Pipeline stages first map the device
 * to their own ({@link #forSlot}): a list {@code cuda:N,M,...} names the GPUs they take in turn.
 */
public final class Backends {
    private Backends() {}

    /**
     * Default tokens per step: on the CPU a step's time grows with its tokens from a few hundred on, so
     * larger steps only delay the decode tokens beside a prefill; a GPU's matmuls fill the device only
     * from thousands of rows, and a step of 512 tokens leaves most of an H200 idle.
     */
    public static final int CPU_STEP_TOKENS = 512, GPU_STEP_TOKENS = 8192;

    /**
     * The default step budget of a device name, without opening it: the GPU's for {@code cuda}, {@code cuda:N...}
     * and {@code auto} where a GPU answers, else the CPU's.
     */
    public static int stepTokens(String device) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.equals("cuda") || d.startsWith("cuda:")) return GPU_STEP_TOKENS;
        if (d.equals("auto") && gpus() > 0) return GPU_STEP_TOKENS;
        return CPU_STEP_TOKENS;
    }

    public static Backend open(String device) { return open(device, 0, System.err); }

    public static Backend open(String device, PrintStream log) { return open(device, 0, log); }

    /** cpuThreads sizes the CPU backend (0: every core). */
    public static Backend open(String device, int cpuThreads) { return open(device, cpuThreads, System.err); }

    public static Backend open(String device, int cpuThreads, PrintStream log) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        java.util.function.Supplier<Backend> cpu = () -> cpuThreads > 0 ? new CpuBackend(cpuThreads) : new CpuBackend();
        if (d.equals("cpu")) return cpu.get();
        if (d.equals("cpu:bf16")) return new CpuBackend(cpuThreads > 0 ? cpuThreads : Runtime.getRuntime().availableProcessors(), true);
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
            int[] ordinals = d.equals("cuda") ? new int[]{0} : ordinals(device, d);
            if (ordinals.length > 1)
                throw new IllegalArgumentException("device '" + device + "': a list of GPUs places pipeline stages; this runs on one (cuda:N)");
            int ordinal = ordinals[0];
            try {
                return cuda(ordinal);
            } catch (Throwable t) {
                throw new IllegalStateException("device '" + device + "' cannot be opened: " + reason(t), t);
            }
        }
        throw new IllegalArgumentException("unknown device '" + device + "' (cpu, cpu:bf16, cuda, cuda:N, cuda:N,M,..., auto)");
    }

    /**
     * The device of one pipeline subtask, slot = stage x parallelism + subtask index, so that a pipeline's
     * stages spread over a host's GPUs: a list {@code cuda:N,M,...} gives its GPUs in turn; {@code cuda},
     * and {@code auto} where a GPU answers, give all the host's GPUs in turn; anything else is every
     * slot's device ({@code cuda:N} puts them all on GPU N).
     */
    public static String forSlot(String device, int slot) { return forSlot(device, slot, Backends::gpus); }

    /** {@link #forSlot(String, int)} on a host with {@code gpus} GPUs (for placement tests where there are none). */
    public static String forSlot(String device, int slot, java.util.function.IntSupplier gpus) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.startsWith("cuda:")) {
            int[] ordinals = ordinals(device, d);
            return "cuda:" + ordinals[slot % ordinals.length];
        }
        if (d.equals("cuda") || d.equals("auto")) {
            int n = gpus.getAsInt();
            if (n > 0) return "cuda:" + slot % n;
        }
        return d;
    }

    /** Throws IllegalArgumentException, naming the device, unless it is one open or forSlot takes. */
    public static void checkName(String device) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.startsWith("cuda:")) ordinals(device, d);
        else if (!d.equals("cpu") && !d.equals("cpu:bf16") && !d.equals("cuda") && !d.equals("auto"))
            throw new IllegalArgumentException("unknown device '" + device + "' (cpu, cpu:bf16, cuda, cuda:N, cuda:N,M,..., auto)");
    }

    /** N, M, ... of {@code cuda:N,M,...}. */
    private static int[] ordinals(String device, String d) {
        String[] parts = d.substring(5).split(",", -1);
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try { out[i] = Integer.parseInt(parts[i].strip()); }
            catch (NumberFormatException e) { out[i] = -1; }
            if (out[i] < 0) throw new IllegalArgumentException("device '" + device + "': expected cuda:N or cuda:N,M,... with N a GPU number");
        }
        return out;
    }

    /** The GPUs CUDA sees; 0 where it is unusable (no jars, no driver, no GPU). */
    private static int gpus() {
        try {
            return (int) Class.forName("io.mistralflink.model.compute.cuda.CudaBackend").getMethod("deviceCount").invoke(null);
        } catch (Throwable t) {
            return 0;
        }
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
