package io.mistralflink.job.kafka;

import org.apache.flink.api.common.accumulators.Accumulator;

import java.util.HashMap;

/**
 * The highest offset read from each partition of the prompts topic, merged over the job's subtasks
 * (a Flink accumulator). A bounded run ({@code run --until-latest}) that finished has answered every
 * record up to these offsets, so its group's offsets can be committed from them when it ends
 * ({@link KafkaIo#commitAnswered}): the source's own commit on the final checkpoint is asynchronous
 * and may be lost when its reader closes with the job, and the next run would answer those prompts
 * again.
 */
public final class ReadOffsets implements Accumulator<RawRecord, HashMap<Integer, Long>> {
    private static final long serialVersionUID = 1L;
    public static final String NAME = "prompt-offsets";

    private HashMap<Integer, Long> highest = new HashMap<>();

    @Override public void add(RawRecord r) { highest.merge(r.partition, r.offset, Math::max); }

    @Override public HashMap<Integer, Long> getLocalValue() { return highest; }

    @Override public void resetLocal() { highest = new HashMap<>(); }

    @Override public void merge(Accumulator<RawRecord, HashMap<Integer, Long>> other) {
        other.getLocalValue().forEach((p, o) -> highest.merge(p, o, Math::max));
    }

    @Override public ReadOffsets clone() {
        ReadOffsets c = new ReadOffsets();
        c.highest = new HashMap<>(highest);
        return c;
    }
}
