package io.mistralflink.model.compute;

import io.mistralflink.model.compute.cpu.CpuBackend;

/** Opens the backend a device name asks for. */
public final class Backends {
    private Backends() {}

    /** {@code cpu} (more devices come with their backends); cpuThreads sizes the CPU backend. */
    public static Backend open(String device, int cpuThreads) {
        if (device.equals("cpu")) return new CpuBackend(cpuThreads);
        throw new IllegalArgumentException("device '" + device + "' is not supported by this build (cpu)");
    }
}
