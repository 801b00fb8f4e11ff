package io.mistralflink.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Scorer;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Perplexity over the first 1024 tokens (BOS + document + EOS) of the reference's Brown documents. */
class PerplexityTest {
    @ParameterizedTest @ValueSource(strings = {"tiny-mistral", "tiny-mixtral"})
    void brownPerplexitiesWithinATenthOfAPercent(String name) throws Exception {
        Map<String, String> docs = TestModels.brownDocuments();
        try (CpuBackend backend = new CpuBackend(); Checkpoint c = Checkpoint.open(TestModels.model(name));
             Tokenizer tok = Tokenizer.load(TestModels.model(name))) {
            Scorer scorer = new Scorer(Shard.whole(c, backend));
            int checked = 0;
            for (JsonNode e : TestModels.reference().path("models").path(name).path("eval")) {
                int[] ids = TestModels.evalIds(tok.encode(docs.get(e.get("id").asText())), c.config().eosId());
                assertEquals(e.get("tokens").asInt(), ids.length, e.get("id") + " token count");
                double ppl = scorer.score(ids).perplexity(), ref = e.get("ppl").asDouble();
                assertEquals(ref, ppl, ref * 1e-3, name + " perplexity of " + e.get("id"));
                checked++;
            }
            assertEquals(12, checked);
        }
    }
}
