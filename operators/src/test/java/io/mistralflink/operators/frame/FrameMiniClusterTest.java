package io.mistralflink.operators.frame;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/** Frames through a real local cluster: across the network serializer, and by reference when chained. */
class FrameMiniClusterTest {
    /** Frames emitted by the upstream operator of a chain; MiniCluster tasks share this JVM. */
    private static final Set<MicroBatchFrame> EMITTED = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));

    private static Configuration conf() {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        conf.set(PipelineOptions.GENERIC_TYPES, false); // fail rather than fall back to Kryo
        conf.set(PipelineOptions.OBJECT_REUSE, false); // chained hand-over relies on copy() alone
        return conf;
    }

    private static List<MicroBatchFrame> input() {
        List<MicroBatchFrame> frames = new ArrayList<>();
        for (int i = 0; i < 24; i++) frames.add(FrameTestData.frame(1 + i % 9, i % 4 == 0 ? 0 : 256, i));
        return frames;
    }

    private static List<MicroBatchFrame> collect(DataStream<MicroBatchFrame> stream) throws Exception {
        List<MicroBatchFrame> out = new ArrayList<>();
        try (CloseableIterator<MicroBatchFrame> it = stream.executeAndCollect("frames")) {
            it.forEachRemaining(out::add);
        }
        out.sort(Comparator.comparingInt(f -> Integer.parseInt(f.meta(MicroBatchFrame.META_STEP))));
        return out;
    }

    @Test
    void framesCrossTheNetworkIntact() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf());
        env.disableOperatorChaining();
        List<MicroBatchFrame> in = input();
        DataStream<MicroBatchFrame> out = env.fromData(in, MicroBatchFrameTypeInfo.INSTANCE)
                .rebalance()
                .map(f -> f.withMeta(MicroBatchFrame.META_STAGE, "1"))
                .rebalance()
                .map(f -> f.withMeta(MicroBatchFrame.META_STAGE, "2"));
        assertEquals(in.stream().map(f -> f.withMeta(MicroBatchFrame.META_STAGE, "2")).toList(), collect(out));
    }

    @Test
    void chainedOperatorsShareTheFrame() throws Exception {
        EMITTED.clear();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf());
        List<MicroBatchFrame> in = input();
        DataStream<MicroBatchFrame> out = env.fromData(in, MicroBatchFrameTypeInfo.INSTANCE)
                .rebalance()
                .map(f -> {
                    MicroBatchFrame g = f.withMeta(MicroBatchFrame.META_STAGE, "1");
                    EMITTED.add(g);
                    return g;
                })
                .map(f -> f.withMeta("same", Boolean.toString(EMITTED.contains(f)))); // chained to the map above
        List<MicroBatchFrame> got = collect(out);
        assertEquals(in.size(), got.size());
        for (MicroBatchFrame f : got) assertEquals("true", f.meta("same"), f.toString());
    }
}
