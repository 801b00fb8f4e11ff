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

    /** Several projections of the same input, in one pass where the backend can. */
    static Activation[] apply(Backend b, Activation x, Linear... projections) {
        Weight[] ws = new Weight[projections.length];
        Activation[] outs = new Activation[projections.length];
        for (int i = 0; i < ws.length; i++) {
            ws[i] = projections[i].w;
            outs[i] = b.allocate(x.rows(), ws[i].rows());
        }
        b.matmul(x, ws, outs);
        return outs;
    }
}
