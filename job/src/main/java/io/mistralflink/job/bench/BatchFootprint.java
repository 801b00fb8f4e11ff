package io.mistralflink.job.bench;

import io.mistralflink.job.batch.BatchInput;
import io.mistralflink.job.batch.FileBatch;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.InstantiationUtil;

import java.io.BufferedWriter;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What a batch of N requests costs the client before the first answer: the client's peak heap and the
 * serialized size of the job graph it submits, for the single-file mode (requests read by the client and
 * shipped in the graph, {@code env.fromData}) and for the file source (the graph names the input path).
 * Each mode wants a JVM of its own ({@code bench batch-footprint}: {@code bin/mistral-flink} starts one).
 */
public final class BatchFootprint {
    private BatchFootprint() {}

    /**
     * @param fromData true: the single-file mode (the client reads the requests); false: the file source
     * @param write    write {@code file} with this many short requests first (0: it is there)
     */
    public static void run(boolean fromData, Path model, Path file, int write, PrintStream out) throws Exception {
        String mode = fromData ? "from-data" : "files";
        if (write > 0) {
            try (BufferedWriter w = Files.newBufferedWriter(file)) {
                for (int i = 0, n = write; i < n; i++)
                    w.write("{\"request_id\": \"r" + i + "\", \"prompt\": \"Row " + i + " of the batch said\", \"max_new_tokens\": " + (2 + i % 3) + "}\n");
            }
        }
        PipelineConfig config = PipelineConfig.builder(model.toAbsolutePath().toString()).stages(2).build();
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) p.resetPeakUsage();
        long t0 = System.nanoTime();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, new Configuration());
        int requests = -1;
        if (fromData) {
            List<InferenceRequest> rs = BatchInput.read(file, System.err);   // what BatchCommand's single-file mode does
            requests = rs.size();
            Pipeline.build(env.fromData(rs).setParallelism(1), config).print();
        } else {
            Path parts = Files.createTempDirectory("footprint");
            FileBatch.build(env, config, new FileBatch.Options(file.toString(), parts.toString(), FileBatch.Format.JSONL, 1, 128 << 20, 10_000));
        }
        JobGraph graph = env.getStreamGraph().getJobGraph();
        long bytes = InstantiationUtil.serializeObject(graph).length;
        long peak = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) peak += p.getPeakUsage().getUsed();
        out.printf("{\"mode\": \"%s\", \"input_bytes\": %d, \"requests_read_by_client\": %d, \"job_graph_bytes\": %d, "
                        + "\"client_peak_heap_mb\": %.1f, \"seconds_to_job_graph\": %.2f}%n",
                mode, Files.size(file), requests, bytes, peak / 1048576.0, (System.nanoTime() - t0) / 1e9);
    }
}
