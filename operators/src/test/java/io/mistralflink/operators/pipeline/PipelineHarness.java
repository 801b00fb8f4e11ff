package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/** Runs the pipeline on a real Flink MiniCluster of one or more TaskManagers and collects the completions. */
final class PipelineHarness {
    private static final Map<String, Queue<CompletionResult>> RESULTS = new ConcurrentHashMap<>();

    private PipelineHarness() {}

    static List<CompletionResult> run(List<InferenceRequest> requests, PipelineConfig config, int taskManagers) throws Exception {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        conf.set(TaskManagerOptions.TASK_MANAGER_LOAD_BALANCE_MODE, TaskManagerOptions.TaskManagerLoadBalanceMode.SLOTS);
        int slots = (Pipeline.slots(config) + taskManagers - 1) / taskManagers;
        MiniClusterConfiguration mc = new MiniClusterConfiguration.Builder().setConfiguration(conf)
                .setNumTaskManagers(taskManagers).setNumSlotsPerTaskManager(slots).build();
        String run = UUID.randomUUID().toString();
        RESULTS.put(run, new ConcurrentLinkedQueue<>());
        try (MiniCluster cluster = new MiniCluster(mc)) {
            cluster.start();
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.setBufferTimeout(config.bufferTimeoutMs());
            DataStream<InferenceRequest> in = env.fromData(requests).setParallelism(1);
            Pipeline.build(in, config).sinkTo(new Collect(run)).setParallelism(1);
            cluster.executeJobBlocking(env.getStreamGraph().getJobGraph());
            return new ArrayList<>(RESULTS.get(run));
        } finally {
            RESULTS.remove(run);
        }
    }

    private record Collect(String run) implements Sink<CompletionResult> {
        @Override public SinkWriter<CompletionResult> createWriter(WriterInitContext context) {
            return new SinkWriter<>() {
                @Override public void write(CompletionResult r, Context c) { RESULTS.get(run).add(r); }
                @Override public void flush(boolean endOfInput) {}
                @Override public void close() {}
            };
        }
    }
}
