package io.mistralflink.model;

import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The engine alone on the CPU: the oracle the pipeline, the Kafka job and SQL are checked against. */
public final class EngineOracle {
    private EngineOracle() {}

    /** One request: its prompt text (chat already rendered) and how it samples. */
    public record Request(String id, String prompt, SamplingParams params) {}

    /** Every request run to its end in one {@link Generator} (a token budget of 512), by id. */
    public static Map<String, Sequence> run(Path dir, List<Request> requests) {
        Map<String, Sequence> out = new HashMap<>();
        try (CpuBackend b = new CpuBackend(); Checkpoint c = Checkpoint.open(dir); Tokenizer tok = Tokenizer.load(dir)) {
            ModelConfig k = c.config();
            List<Sequence> seqs = new ArrayList<>();
            for (Request r : requests) {
                Sequence s = new Sequence(r.id(), tok.encode(r.prompt()), r.params(), k.eosId(), k.maxPositions());
                seqs.add(s);
                out.put(r.id(), s);
            }
            new Generator(Shard.whole(c, b), tok, 512).run(seqs);
        }
        return out;
    }
}
