package io.mistralflink.job.kafka;

import java.util.Arrays;
import java.util.Objects;

/**
 * A Kafka record as read, before decoding: where it came from (for dead letters) and its bytes.
 * A Flink POJO (public fields, no-arg constructor).
 */
public class RawRecord {
    public String topic;
    public int partition;
    public long offset;
    /** Record timestamp (ms), or -1. */
    public long timestamp;
    /** May be null. */
    public byte[] key;
    /** May be null (tombstone). */
    public byte[] value;

    public RawRecord() {}

    public RawRecord(String topic, int partition, long offset, long timestamp, byte[] key, byte[] value) {
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.timestamp = timestamp;
        this.key = key;
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RawRecord r && partition == r.partition && offset == r.offset && timestamp == r.timestamp
                && Objects.equals(topic, r.topic) && Arrays.equals(key, r.key) && Arrays.equals(value, r.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, partition, offset);
    }

    @Override
    public String toString() {
        return topic + "-" + partition + "@" + offset + " (" + (value == null ? "null" : value.length + " bytes") + ")";
    }
}
