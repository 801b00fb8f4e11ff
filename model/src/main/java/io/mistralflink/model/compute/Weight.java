package io.mistralflink.model.compute;

/** A weight matrix [rows = out features, cols = in features] (a vector has cols 1), resident on a backend. */
public interface Weight {
    int rows();
    int cols();
}
