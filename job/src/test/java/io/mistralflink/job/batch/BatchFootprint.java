package io.mistralflink.job.batch;

import io.mistralflink.job.cli.BatchCommand;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.InstantiationUtil;

import java.io.BufferedWriter;
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
 * A measurement, not a test: run each mode in a JVM of its own,
 * {@code java -cp ... io.mistralflink.job.BatchFootprint fromData|files MODEL_DIR FILE.jsonl [N]}
 * (N: write FILE with N short requests first).
 */
public final class BatchFootprint {
    public static void main(String[] a) throws Exception {
        String mode = a[0];
        Path model = Path.of(a[1]), file = Path.of(a[2]);
        if (a.length > 3) {
            try (BufferedWriter w = Files.newBufferedWriter(file)) {
                for (int i = 0, n = Integer.parseInt(a[3]); i < n; i++)
                    w.write("{\"request_id\": \"r" + i + "\", \"prompt\": \"Row " + i + " of the batch said\", \"max_new_tokens\": " + (2 + i % 3) + "}\n");
            }
        }
        PipelineConfig config = PipelineConfig.builder(model.toAbsolutePath().toString()).stages(2).build();
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) p.resetPeakUsage();
        long t0 = System.nanoTime();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, new Configuration());
        int requests = -1;
        if (mode.equals("fromData")) {
            List<InferenceRequest> rs = BatchInput.read(file, System.err);   // what BatchCommand's single-file mode does
            requests = rs.size();
            Pipeline.build(env.fromData(rs).setParallelism(1), config).print();
        } else {
            Path out = Files.createTempDirectory("footprint");
            FileBatch.build(env, config, new FileBatch.Options(file.toString(), out.toString(), FileBatch.Format.JSONL, 1, 128 << 20, 10_000));
        }
        JobGraph graph = env.getStreamGraph().getJobGraph();
        long bytes = InstantiationUtil.serializeObject(graph).length;
        long peak = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) peak += p.getPeakUsage().getUsed();
        System.out.printf("{\"mode\": \"%s\", \"input_bytes\": %d, \"requests_read_by_client\": %d, \"job_graph_bytes\": %d, "
                        + "\"client_peak_heap_mb\": %.1f, \"seconds_to_job_graph\": %.2f}%n",
                mode, Files.size(file), requests, bytes, peak / 1048576.0, (System.nanoTime() - t0) / 1e9);
    }
}
