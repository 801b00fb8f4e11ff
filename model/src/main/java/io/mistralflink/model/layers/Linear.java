package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Weight;

/** y = W x, no bias (Mistral has none). */
record Linear(Weight w) {
    Activation apply(Backend b, Activation x) {
        Activation out = b.allocate(x.rows(), w.rows());
        b.matmul(x, w, out);
        return out;
    }
}
