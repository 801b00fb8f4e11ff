package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Weight;

/** Root-mean-square layer norm: x / sqrt(mean(x^2) + eps) * g. */
record RMSNorm(Weight gain, float eps) {
    Activation apply(Backend b, Activation x) {
        Activation out = b.allocate(x.rows(), x.cols());
        b.rmsNorm(x, gain, eps, out);
        return out;
    }
}
