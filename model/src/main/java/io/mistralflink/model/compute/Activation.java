package io.mistralflink.model.compute;

/** A rows x cols float32 matrix living where its backend computes. */
public interface Activation {
    int rows();
    int cols();
}
