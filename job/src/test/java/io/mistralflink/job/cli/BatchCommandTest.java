package io.mistralflink.job.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.Cli;
import io.mistralflink.job.batch.BatchInput;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.TestModels;
import io.mistralflink.model.compute.cpu.CpuBackend;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
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

/** The batch command end to end: JSONL in, the full pipeline on a MiniCluster, JSONL out. */
class BatchCommandTest {
    @TempDir Path tmp;

    @Test void refusesAnOutputThatIsTheInputOrInsideIt() throws Exception {
        Path in = Files.writeString(tmp.resolve("in.jsonl"), "{\"request_id\": \"a\", \"prompt\": \"x\", \"max_new_tokens\": 2}\n");
        Path dir = Files.createDirectories(tmp.resolve("requests"));
        String model = TestModels.model("tiny-mistral").toString();
        for (String[] io : List.of(new String[]{in.toString(), in.toString()},
                new String[]{in.toString(), tmp.resolve(".").resolve("in.jsonl").toString()},
                new String[]{dir.toString(), dir.resolve("out").toString()},
                new String[]{dir.toString(), dir.toString()})) {
            UsageException e = assertThrows(UsageException.class, () -> Cli.run(new String[]{"batch", "--model", model,
                    "--input", io[0], "--output", io[1], "--quiet"}, System.out), io[0] + " -> " + io[1]);
            assertTrue(e.getMessage().contains("is the --input or inside it"), e.getMessage());
        }
        assertEquals("{\"request_id\": \"a\", \"prompt\": \"x\", \"max_new_tokens\": 2}\n", Files.readString(in), "the input is untouched");
        BatchCommand.requireApart(in.toString(), tmp.resolve("in.jsonl.out").toString());   // a sibling is fine
        BatchCommand.requireApart(dir.toString(), tmp.resolve("requests-out").toString());
    }

    @Test void completesEveryGoodLineAndReportsBadOnesByNumber() throws Exception {
        Path in = tmp.resolve("in.jsonl"), out = tmp.resolve("out.jsonl");
        Files.writeString(in, String.join("\n",
                "{\"request_id\": \"a\", \"prompt\": \"The jury said\", \"max_new_tokens\": 12}",
                "{\"request_id\": \"b\", \"prompt\": \"In the morning, the president\", \"max_new_tokens\": 9, \"temperature\": 0.7, \"top_k\": 20, \"seed\": 5}",
                "{\"request_id\": \"c\", \"prompt\": \"Mr. Smith went to Washington to\", \"max_new_tokens\": 30, \"stop\": [\" Mrs\"]}",
                "this is not json",
                "{\"request_id\": \"d\", \"prompt\": \"x\", \"max_new_tokens\": -3}",
                "{\"request_id\": \"e\", \"prompt\": \"x\", \"max_new_tokens\": 3, \"temperature\": -1}",
                "{\"request_id\": \"a\", \"prompt\": \"again\", \"max_new_tokens\": 3}",
                "{\"request_id\": \"f\", \"prompt\": \"x\", \"max_new_tokens\": 3, \"colour\": \"red\"}"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String model = TestModels.model("tiny-mistral").toString();
        int code = Cli.run(new String[]{"batch", "--model", model, "--input", in.toString(), "--output", out.toString(),
                "--stages", "2", "--lanes", "2", "--quiet"}, System.out);
        assertEquals(0, code);
        // Bad lines went to stderr with their numbers; run again capturing stderr through BatchInput directly.
        BatchInput.read(in, new PrintStream(err, true, StandardCharsets.UTF_8));
        String report = err.toString(StandardCharsets.UTF_8);
        for (String line : List.of("line 4:", "line 5: max_new_tokens must be >= 1", "line 6: temperature", "line 7: duplicate request_id", "line 8: unknown field"))
            assertTrue(report.contains(line), "report names " + line + ":\n" + report);

        Map<String, JsonNode> got = new HashMap<>();
        for (String l : Files.readAllLines(out)) {
            JsonNode j = Json.MAPPER.readTree(l);
            got.put(j.get("request_id").asText(), j);
        }
        assertEquals(3, got.size());
        try (CpuBackend b = new CpuBackend(1); Checkpoint c = Checkpoint.open(TestModels.model("tiny-mistral")); Tokenizer tok = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            ModelConfig k = c.config();
            for (String l : Files.readAllLines(in).subList(0, 3)) {
                var req = BatchInput.parse(Json.MAPPER.readTree(l));
                Sequence s = new Sequence(req.id(), tok.encode(req.prompt()), req.params(), k.eosId(), k.maxPositions());
                new Generator(Shard.whole(c, b), tok, 256).run(List.of(s));
                JsonNode j = got.get(req.id());
                assertEquals(s.text(), j.get("text").asText(), req.id());
                assertEquals(s.generatedCount(), j.get("completion_tokens").asInt());
                assertEquals(s.promptLength(), j.get("prompt_tokens").asInt());
                assertEquals(s.finishReason().wire(), j.get("finish_reason").asText());
            }
        }
        assertEquals("stop", got.get("c").get("finish_reason").asText());
    }

    /**
     * --resume continues an interrupted run from its output: here a run cut after two lines and half of a
     * third (the torn line is dropped); the resumed file holds every request once, each line equal to the
     * uninterrupted run's; resuming a finished run has nothing to do.
     */
    @Test void resumesAnInterruptedRunFromItsOutput() throws Exception {
        Path in = tmp.resolve("in.jsonl"), full = tmp.resolve("full.jsonl"), part = tmp.resolve("part.jsonl");
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++)
            lines.add("{\"request_id\": \"r" + i + "\", \"prompt\": \"The jury said " + i + "\", \"max_new_tokens\": " + (4 + 3 * i)
                    + (i % 2 == 1 ? ", \"temperature\": 0.8, \"seed\": " + i : "") + "}");
        Files.writeString(in, String.join("\n", lines));
        String model = TestModels.model("tiny-mistral").toString();
        String[] args = {"batch", "--model", model, "--input", in.toString(), "--stages", "2", "--lanes", "2", "--quiet"};
        assertEquals(0, Cli.run(concat(args, "--output", full.toString()), System.out));
        List<String> want = Files.readAllLines(full);
        assertEquals(6, want.size());
        String torn = want.get(2).substring(0, want.get(2).length() / 2);
        Files.writeString(part, want.get(0) + "\n" + want.get(1) + "\n" + torn);
        assertEquals(0, Cli.run(concat(args, "--output", part.toString(), "--resume"), System.out));
        List<String> got = Files.readAllLines(part);
        assertEquals(6, got.size(), String.join("\n", got));
        assertEquals(new java.util.HashSet<>(want), new java.util.HashSet<>(got), "the same lines as the uninterrupted run");
        assertEquals(List.of(want.get(0), want.get(1)), got.subList(0, 2), "the answered lines are kept as they were");
        byte[] before = Files.readAllBytes(part);
        assertEquals(0, Cli.run(concat(args, "--output", part.toString(), "--resume"), System.out));
        assertArrayEquals(before, Files.readAllBytes(part), "a finished run resumes to nothing");
    }

    /**
     * An Avro object container of GenerationRequest records (the Kafka wire schema) as batch input: records
     * are prepared as the Kafka job prepares them, bad ones reported by number and skipped, the good ones
     * complete as the engine alone completes them.
     */
    @Test void readsAnAvroContainerOfGenerationRequests() throws Exception {
        Path in = tmp.resolve("in.avro"), out = tmp.resolve("out.jsonl");
        List<GenerationRequest> records = List.of(
                GenerationRequest.newBuilder().setRequestId("a").setPrompt("The jury said").setMaxNewTokens(10).build(),
                GenerationRequest.newBuilder().setRequestId("b").setPrompt("In the morning").setMaxNewTokens(7).setTemperature(0.7f).setSeed(5L)
                        .setMetadata(Map.of("k", "v")).build(),
                GenerationRequest.newBuilder().setRequestId("c").setPrompt("x").setMaxNewTokens(-3).build(),
                GenerationRequest.newBuilder().setRequestId("a").setPrompt("again").setMaxNewTokens(3).build());
        try (var w = new org.apache.avro.file.DataFileWriter<>(new org.apache.avro.specific.SpecificDatumWriter<>(GenerationRequest.class))) {
            w.create(GenerationRequest.getClassSchema(), in.toFile());
            for (GenerationRequest r : records) w.append(r);
        }
        String model = TestModels.model("tiny-mistral").toString();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<InferenceRequest> read = BatchInput.readAvro(in, model, new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(List.of("a", "b"), read.stream().map(InferenceRequest::id).toList());
        String report = err.toString(StandardCharsets.UTF_8);
        assertTrue(report.contains("record 3: ") && report.contains("record 4: duplicate request_id 'a'"), report);
        Path bad = tmp.resolve("bad.avro");
        Files.writeString(bad, "not avro");
        UsageException e = assertThrows(UsageException.class, () -> BatchInput.readAvro(bad, model, System.err));
        assertTrue(e.getMessage().contains("bad.avro") && e.getMessage().contains("not an Avro container"), e.getMessage());
        assertEquals(0, Cli.run(new String[]{"batch", "--model", model, "--input", in.toString(), "--output", out.toString(), "--quiet"}, System.out));
        Map<String, JsonNode> got = new HashMap<>();
        for (String l : Files.readAllLines(out)) got.put(Json.MAPPER.readTree(l).get("request_id").asText(), Json.MAPPER.readTree(l));
        assertEquals(2, got.size());
        assertEquals("v", got.get("b").path("metadata").path("k").asText(), "the caller's metadata, and only it");
        assertEquals(1, got.get("b").path("metadata").size());
        try (CpuBackend b = new CpuBackend(1); Checkpoint c = Checkpoint.open(TestModels.model("tiny-mistral")); Tokenizer tok = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            for (InferenceRequest r : read) {
                Sequence s = new Sequence(r.id(), tok.encode(r.prompt()), r.params(), c.config().eosId(), c.config().maxPositions());
                new Generator(Shard.whole(c, b), tok, 256).run(List.of(s));
                assertEquals(s.text(), got.get(r.id()).get("text").asText(), r.id());
            }
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
