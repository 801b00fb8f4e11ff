package io.mistralflink.model.layers;

import io.mistralflink.model.compute.Activation;
import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Weight;

/**
 * Mixtral's sparse feed-forward: a router scores the experts for each token, the top k are kept, their
 * scores softmaxed over those k, and the token's output is the weighted sum of the k experts' SwiGLU
 * outputs, w2(silu(w1 x) * w3 x). Grouped, as MegaBlocks does: the rows are copied once per chosen
 * expert into blocks grouped by expert, each weight matrix runs as one grouped matmul over all the
 * blocks, and the weighted outputs are summed back per row. The routing stays on the backend (no read
 * back on a GPU). The arrays of the experts' weights are the same instances on every call.
 */
record MixtureOfExperts(Linear router, Weight[] w1, Weight[] w2, Weight[] w3, int topK) {

    MixtureOfExperts {
        if (w1.length != w2.length || w1.length != w3.length || w1.length != router.w().rows())
            throw new IllegalArgumentException("experts: " + w1.length + ", " + w2.length + ", " + w3.length + " weights for " + router.w().rows() + " router outputs");
    }

    Activation apply(Backend b, Activation x) {
        int rows = x.rows(), dim = x.cols(), hidden = w1[0].rows(), pairs = rows * topK;
        Activation scores = router.apply(b, x);
        Backend.Routing routing = b.route(scores, topK);
        b.release(scores);
        Activation xs = b.allocate(pairs, dim);
        b.dispatch(x, routing, xs);
        Activation gate = b.allocate(pairs, hidden), up = b.allocate(pairs, hidden);
        b.groupedMatmul(xs, w1, routing, gate);
        b.groupedMatmul(xs, w3, routing, up);
        b.release(xs);
        b.siluMul(gate, up);
        b.release(up);
        Activation ys = b.allocate(pairs, dim);
        b.groupedMatmul(gate, w2, routing, ys);
        b.release(gate);
        Activation out = b.allocate(rows, dim);
        b.combine(ys, routing, out);
        b.release(ys);
        return out;
    }
}
