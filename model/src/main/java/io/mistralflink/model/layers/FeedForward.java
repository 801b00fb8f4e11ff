package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;

/** SwiGLU: w2(silu(w1 x) * w3 x). */
record FeedForward(Linear w1, Linear w2, Linear w3) {
    Activation apply(Backend b, Activation x) {
        Activation hidden = b.allocate(x.rows(), w1.w().rows());
        b.swiGlu(x, w1.w(), w3.w(), hidden);
        Activation out = w2.apply(b, hidden);
        b.release(hidden);
        return out;
    }
}
