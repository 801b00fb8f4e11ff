package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.batch.BatchInput;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.schemas.GenerationRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * min_p end to end: batch lines and Avro requests (the Kafka schema) that carry min_p come back from the
 * pipeline (2 stages, so frames cross the network serializer) as the engine alone completes them with
 * that min_p, and not as it completes them without; {@code generate --min-p} likewise; a min_p outside
 * [0, 1] is refused with one line naming it.
 */
class MinPSamplingTest {
    @TempDir Path tmp;
    private static final Path MODEL = TestModels.model("tiny-mistral");

    @Test void batchLinesWithMinPAreAnsweredWithIt() throws Exception {
        Path in = tmp.resolve("in.jsonl"), out = tmp.resolve("out.jsonl");
        Files.writeString(in, String.join("\n",
                "{\"request_id\": \"a\", \"prompt\": \"The jury said\", \"max_new_tokens\": 24, \"temperature\": 1.5, \"min_p\": 0.2, \"seed\": 3, \"ignore_eos\": true}",
                "{\"request_id\": \"b\", \"prompt\": \"In the morning\", \"max_new_tokens\": 24, \"temperature\": 1.2, \"top_k\": 40, \"top_p\": 0.9, \"min_p\": 0.05, \"seed\": 8, \"ignore_eos\": true}",
                "{\"request_id\": \"c\", \"prompt\": \"x\", \"max_new_tokens\": 3, \"min_p\": 1.5}"));
        assertEquals(0, Cli.run(new String[]{"batch", "--model", MODEL.toString(), "--input", in.toString(), "--output", out.toString(),
                "--stages", "2", "--lanes", "2", "--quiet"}, System.out));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<InferenceRequest> read = BatchInput.read(in, new PrintStream(err, true, StandardCharsets.UTF_8));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("line 3: min_p must be in [0, 1], got 1.5"), err.toString(StandardCharsets.UTF_8));
        assertEquals(List.of(0.2f, 0.05f), read.stream().map(r -> r.params().minP()).toList());
        assertAnsweredWithMinP(read, answers(out));
    }

    @Test void avroRequestsWithMinPAreAnsweredWithIt() throws Exception {
        Path in = tmp.resolve("in.avro"), out = tmp.resolve("out.jsonl");
        List<GenerationRequest> records = List.of(
                GenerationRequest.newBuilder().setRequestId("a").setPrompt("The jury said").setMaxNewTokens(24).setTemperature(1.5f)
                        .setMinP(0.2f).setSeed(3L).setIgnoreEos(true).build(),
                GenerationRequest.newBuilder().setRequestId("b").setPrompt("x").setMaxNewTokens(3).setMinP(2f).build());
        try (var w = new org.apache.avro.file.DataFileWriter<>(new org.apache.avro.specific.SpecificDatumWriter<>(GenerationRequest.class))) {
            w.create(GenerationRequest.getClassSchema(), in.toFile());
            for (GenerationRequest r : records) w.append(r);
        }
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<InferenceRequest> read = BatchInput.readAvro(in, MODEL.toString(), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("record 2: invalid_request: min_p is 2.0, must be in [0, 1]"), err.toString(StandardCharsets.UTF_8));
        assertEquals(List.of(0.2f), read.stream().map(r -> r.params().minP()).toList());
        assertEquals(0, Cli.run(new String[]{"batch", "--model", MODEL.toString(), "--input", in.toString(), "--output", out.toString(),
                "--stages", "2", "--quiet"}, System.out));
        assertAnsweredWithMinP(read, answers(out));
    }

    @Test void generateTakesMinP() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(0, Cli.run(new String[]{"generate", "--model", MODEL.toString(), "--prompt", "The jury said", "--max-new-tokens", "24",
                "--temperature", "1.5", "--min-p", "0.2", "--seed", "3", "--ignore-eos", "--json"}, new PrintStream(buf, true, StandardCharsets.UTF_8)));
        JsonNode j = Json.MAPPER.readTree(buf.toString(StandardCharsets.UTF_8));
        SamplingParams p = new SamplingParams(1.5f, 1f, 0, 0.2f, 3, 24, true, List.of(), new int[0]);
        assertEquals(engine("g", "The jury said", p).text(), j.get("text").asText());
        UsageException e = assertThrows(UsageException.class, () -> Cli.run(new String[]{"generate", "--model", MODEL.toString(),
                "--prompt", "x", "--min-p", "1.5"}, System.out));
        assertTrue(e.getMessage().contains("--min-p") && e.getMessage().contains("1.5"), e.getMessage());
    }

    /** Each answer equals the engine alone's with the request's min_p; at least one differs from the engine's without it. */
    private static void assertAnsweredWithMinP(List<InferenceRequest> requests, Map<String, JsonNode> got) throws Exception {
        assertEquals(requests.size(), got.size(), got.keySet().toString());
        int changed = 0;
        for (InferenceRequest r : requests) {
            Sequence with = engine(r.id(), r.prompt(), r.params());
            assertEquals(with.text(), got.get(r.id()).get("text").asText(), r.id());
            assertEquals(with.generated().length, got.get(r.id()).get("completion_ids").size(), r.id());
            SamplingParams p = r.params();
            SamplingParams without = new SamplingParams(p.temperature(), p.topP(), p.topK(), 0f, p.seed(), p.maxNewTokens(), p.ignoreEos(), p.stop(), p.stopTokenIds());
            if (!engine(r.id(), r.prompt(), without).text().equals(with.text())) changed++;
        }
        assertTrue(changed > 0, "min_p changed no completion: these requests do not show that it travelled");
    }

    private static Sequence engine(String id, String prompt, SamplingParams p) throws Exception {
        try (CpuBackend b = new CpuBackend(1); Checkpoint c = Checkpoint.open(MODEL); Tokenizer tok = Tokenizer.load(MODEL)) {
            Sequence s = new Sequence(id, tok.encode(prompt), p, c.config().eosId(), c.config().maxPositions());
            new Generator(Shard.whole(c, b), tok, 256).run(List.of(s));
            return s;
        }
    }

    private static Map<String, JsonNode> answers(Path out) throws Exception {
        Map<String, JsonNode> got = new HashMap<>();
        for (String l : Files.readAllLines(out)) got.put(Json.MAPPER.readTree(l).get("request_id").asText(), Json.MAPPER.readTree(l));
        return got;
    }
}
