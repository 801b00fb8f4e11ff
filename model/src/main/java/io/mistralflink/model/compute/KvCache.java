package io.mistralflink.model.compute;

/** The keys and values one sequence keeps for the layers of one shard; position p lives in slot p mod W. */
public interface KvCache extends AutoCloseable {
    /** Bytes currently held. */
    long bytes();

    @Override default void close() {}
}
