package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;

/** SwiGLU: w2(silu(w1 x) * w3 x). */
record FeedForward(Linear w1, Linear w2, Linear w3) {
    Activation apply(Backend b, Activation x) {
        Activation gate = w1.apply(b, x), up = w3.apply(b, x);
        b.siluMul(gate, up);
        b.release(up);
        Activation out = w2.apply(b, gate);
        b.release(gate);
        return out;
    }
}
