package io.mistralflink.model.compute.cuda;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.cuda.CudaBackend.Act;
import io.mistralflink.model.sampling.Sampler;
import io.mistralflink.model.sampling.SamplingParams;
import org.bytedeco.javacpp.Pointer;

import java.nio.ByteOrder;

import static io.mistralflink.model.compute.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoHAsync;

/**
 * Sampling on the device ({@code sampling.cu}, one block a row, all rows in one launch): the host
 * {@link Sampler}'s uniform draws and parameters go up, only token ids come back. A kernel family of
 * {@link CudaBackend}, which it serves.
 */
final class CudaSampling {
    private final CudaBackend cu;

    CudaSampling(CudaBackend cu) { this.cu = cu; }

    /** The rows' tokens, drawn on the device with the host Sampler's draws; only token ids come back. */
    int[] sample(Activation logits, SamplingParams[] params, int[] steps) {
        cu.bind();
        Act l = cu.act(logits);
        if (params.length != l.rows) throw new IllegalArgumentException(params.length + " params for " + l.rows + " rows");
        cu.ensureZero(l);
        long p = cu.uploadLongs(samplingRows(params, steps)), out = cu.scratch(4L * l.rows);
        cu.k("sample_rows", l.rows, 1, 1, 1024, 0, l.f32, l.cols, p, out);
        cu.stream.syncPoint();
        Pointer host = cu.readback(4L * l.rows);
        check(cuMemcpyDtoHAsync(host, out, 4L * l.rows, cu.stream.stream), "cuMemcpyDtoHAsync");
        cu.stream.synchronize();
        int[] ids = new int[l.rows];
        host.capacity(4L * l.rows).asByteBuffer().order(ByteOrder.nativeOrder()).asIntBuffer().get(ids);
        return ids;
    }

    private static final int SAMPLING_PARAMS = 5;

    /**
     * sample_rows's parameters, five doubles a row (as raw bits; each value exact in double): temperature
     * (-1 where the row has no params: it gives -1), top-p, top-k, min-p, and the uniform draw of (seed, step).
     */
    static long[] samplingRows(SamplingParams[] params, int[] steps) {
        long[] rows = new long[SAMPLING_PARAMS * params.length];
        for (int i = 0; i < params.length; i++) {
            SamplingParams p = params[i];
            double[] v = p == null ? new double[]{-1, 1, 0, 0, 0}
                    : new double[]{p.temperature(), p.topP(), p.topK(), p.minP(), p.greedyDecoding() ? 0 : Sampler.uniform(p.seed(), steps[i])};
            for (int j = 0; j < SAMPLING_PARAMS; j++) rows[SAMPLING_PARAMS * i + j] = Double.doubleToRawLongBits(v[j]);
        }
        return rows;
    }
}
