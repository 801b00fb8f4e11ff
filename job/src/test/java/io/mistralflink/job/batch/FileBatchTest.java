package io.mistralflink.job.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.job.Cli;
import io.mistralflink.job.ChildJvm;
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
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code batch --output DIR} end to end on a real MiniCluster: a directory of three JSONL files and one
 * Parquet file (2,000 short requests) through two stages, the part files checked against the engine
 * alone; the same run killed with SIGKILL (a child JVM) and started again; bad rows of every format.
 */
class FileBatchTest {
    static final int REQUESTS = 2000;
    static final String MODEL = TestModels.model("tiny-mistral").toString();
    /** The Parquet columns of the batch line, as a writer of Arrow tables would give them. */
    static final Schema ROW = SchemaBuilder.record("BatchLine").fields()
            .requiredString("request_id").optionalString("prompt").optionalInt("max_new_tokens").optionalFloat("temperature")
            .optionalLong("seed").name("stop").type().optional().array().items().stringType()
            .name("metadata").type().optional().map().values().stringType().endRecord();

    @TempDir static Path shared;
    static Path input;
    /** request id -> the engine alone's completion (text, ids, finish reason, prompt tokens). */
    static Map<String, List<Object>> engine;

    @TempDir Path tmp;

    @BeforeAll static void inputAndEngine() throws Exception {
        input = Files.createDirectories(shared.resolve("in"));
        List<ObjectNode> lines = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            ObjectNode j = Json.MAPPER.createObjectNode();
            j.put("request_id", "r" + i);
            j.put("prompt", "Row " + i + " said");
            j.put("max_new_tokens", 2 + i % 3);
            if (i % 4 == 1) {
                j.put("temperature", 0.8f);
                j.put("seed", (long) i);
            }
            if (i % 50 == 7) j.putObject("metadata").put("k", "v" + i);
            if (i % 7 == 3) j.putArray("stop").add(" the").add(".");
            lines.add(j);
        }
        // three JSONL files of 600, 500 and 400 requests, the last 500 in Parquet
        writeJsonl(input.resolve("a.jsonl"), lines.subList(0, 600));
        writeJsonl(input.resolve("b.jsonl"), lines.subList(600, 1100));
        writeJsonl(input.resolve("c.jsonl"), lines.subList(1100, 1500));
        writeParquet(input.resolve("d.parquet"), lines.subList(1500, REQUESTS));
        engine = engineAlone(lines);
    }

    @Test void aDirectoryOfJsonlAndParquetIsAnsweredOnceEachAsTheEngineAloneAnswers() throws Exception {
        Path out = tmp.resolve("out"), ck = tmp.resolve("ck");
        // --checkpoint-dir as the URI of a Flink file system (file:///...)
        List<String> args = args(out, ck.toUri().toString(), "--output-format", "parquet");
        Run first = run(args);
        assertEquals(0, first.code, first.err);
        assertEquals(REQUESTS, first.summary.get("requests").asInt(), first.err);
        assertEquals(REQUESTS, first.summary.get("answered").asInt());
        assertEquals(0, first.summary.get("refused").asInt());
        Map<String, JsonNode> got = parquetParts(out);
        assertEquals(engine.keySet(), got.keySet());
        got.forEach((id, j) -> assertEquals(engine.get(id), completion(j), id));
        assertEquals("v57", got.get("r57").path("metadata").path("k").asText(), "the caller's metadata, and only it");
        assertEquals(1, got.get("r57").path("metadata").size());
        assertTrue(got.get("r3").get("decode_ms").asLong() >= 0 && got.get("r3").has("queued_ms"), "timings");

        List<Path> parts = committedParts(out);
        Run again = run(args);
        assertEquals(0, again.code, again.err);
        assertTrue(again.summary.path("already_done").asBoolean(), "a finished run is not answered again: " + again.summary + "\n" + again.err);
        assertEquals(parts, committedParts(out), "no part file added");
        assertTrue(FileBatch.checkpoints(ck.toString(), out.toString()).latest().isEmpty(), "Flink discarded the finished job's checkpoints");

        // the client killed between its job's end and the mark: the next start marks it done from the committed parts
        Files.delete(out.resolve(FileBatch.SUCCESS));
        List<String> otherCheckpoints = args(out, tmp.resolve("other-ck").toString(), "--output-format", "parquet");
        assertThrows(UsageException.class, () -> run(otherCheckpoints), "part files of a run not started with this --checkpoint-dir: refused");
        Run marked = run(args);
        assertEquals(0, marked.code, marked.err);
        for (String k : List.of("requests", "answered", "refused", "tokens"))
            assertEquals(first.summary.get(k), marked.summary.get(k), k + ": " + marked.summary + " against " + first.summary);
        assertTrue(Files.exists(out.resolve(FileBatch.SUCCESS)), marked.err);
        assertEquals(parts, committedParts(out), "nothing answered again");
    }

    @Test void aRunKilledWithSigkillResumesFromItsCheckpointAndAnswersEveryRequestOnce() throws Exception {
        Path out = tmp.resolve("out"), ck = tmp.resolve("ck");
        List<String> args = args(out, ck.toString(), "--part-size", "8kb");
        // the child's own temporary directory: its MiniCluster's working files must not be left there by the kill
        Path systemTmp = Files.createDirectories(tmp.resolve("system-tmp"));
        try (ChildJvm child = ChildJvm.start(tmp, tmp.resolve("child.log"), List.of("-Xmx1g", "-Djava.io.tmpdir=" + systemTmp), Cli.class.getName(), args)) {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (committedParts(out).size() < 3) {
                assertTrue(child.process.isAlive(), "the child finished before it was killed:\n" + child.output());
                assertTrue(System.nanoTime() < deadline, "no part file committed in time");
                Thread.sleep(50);
            }
            child.kill();   // SIGKILL
        }
        try (Stream<Path> left = Files.list(systemTmp)) {
            assertEquals(List.of(), left.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("hsperfdata")).toList(),
                    "left in the temporary directory after kill -9");
        }
        int before = lines(out).size();
        assertTrue(before > 0 && before < REQUESTS, "killed mid-way: " + before + " lines committed");
        Run resumed = run(args);
        assertEquals(0, resumed.code, resumed.err);
        assertTrue(resumed.err.contains("resuming from"), resumed.err);
        assertEquals(REQUESTS, resumed.summary.get("requests").asInt(), "counts restored with the state: " + resumed.summary);
        assertEquals(REQUESTS, resumed.summary.get("answered").asInt());
        Map<String, JsonNode> got = new HashMap<>();
        for (String l : lines(out)) {
            JsonNode j = Json.MAPPER.readTree(l);
            assertNull(got.put(j.get("request_id").asText(), j), "answered once: " + l);
        }
        assertEquals(engine.keySet(), got.keySet());
        got.forEach((id, j) -> assertEquals(engine.get(id), completion(j), id));
        // restored in claim mode: the checkpoint it resumed from is discarded with the finished job's own, so
        // a start that finds no _SUCCESS (its client killed before the mark) finishes the run, answering nothing again
        assertTrue(FileBatch.checkpoints(ck.toString(), out.toString()).latest().isEmpty(), "no checkpoint left to resume from");
        assertFalse(Files.exists(FileBatch.checkpoints(ck.toString(), out.toString()).dir().resolve("tmp")), "working files removed");
        List<Path> parts = committedParts(out);
        Files.delete(out.resolve(FileBatch.SUCCESS));
        Run marked = run(args);
        assertEquals(0, marked.code, marked.err);
        assertEquals(REQUESTS, marked.summary.get("answered").asInt(), marked.summary.toString());
        assertEquals(resumed.summary.get("tokens"), marked.summary.get("tokens"));
        assertEquals(parts, committedParts(out), "nothing answered again");
    }

    @Test void badRowsOfEveryFormatAreReportedWithFileAndRowAndTheRestAnswered() throws Exception {
        Path in = Files.createDirectories(tmp.resolve("bad")), out = tmp.resolve("out");
        Files.writeString(in.resolve("a.jsonl"), String.join("\n",
                "{\"request_id\": \"j1\", \"prompt\": \"The jury said\", \"max_new_tokens\": 3}",
                "this is not json",
                "{\"request_id\": \"j3\", \"prompt\": \"x\", \"max_new_tokens\": 3, \"colour\": \"red\"}",
                "",
                "{\"request_id\": \"p1\", \"prompt\": \"again\", \"max_new_tokens\": 2}"));
        try (var w = new org.apache.avro.file.DataFileWriter<>(new org.apache.avro.specific.SpecificDatumWriter<>(GenerationRequest.class))) {
            w.create(GenerationRequest.getClassSchema(), in.resolve("b.avro").toFile());
            w.append(GenerationRequest.newBuilder().setRequestId("v1").setPrompt("In the morning").setMaxNewTokens(3).build());
            w.append(GenerationRequest.newBuilder().setRequestId("v2").setPrompt("x").setMaxNewTokens(-3).build());
        }
        ObjectNode good = Json.MAPPER.createObjectNode().put("request_id", "p1").put("prompt", "Mr. Smith").put("max_new_tokens", 2);
        ObjectNode negative = Json.MAPPER.createObjectNode().put("request_id", "p2").put("prompt", "x").put("max_new_tokens", -1);
        ObjectNode noPrompt = Json.MAPPER.createObjectNode().put("request_id", "p3").put("max_new_tokens", 2);
        writeParquet(in.resolve("c.parquet"), List.of(good, negative, noPrompt));
        Files.writeString(in.resolve("d.avro"), "not avro");
        Files.writeString(in.resolve("e.parquet"), "not parquet either");
        Files.writeString(in.resolve("notes.txt"), "not an input: skipped");
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        String[] argv = {"batch", "--model", MODEL, "--input", in.toString(), "--output", out.toString(), "--checkpoint-dir",
                tmp.resolve("ck").toString(), "--checkpoint-interval-ms", "500", "--quiet"};
        int code = Cli.run(argv, new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8));
        String report = e.toString(StandardCharsets.UTF_8);
        assertEquals(FileBatch.EXIT_REFUSED, code, report);
        for (String want : List.of(in.resolve("a.jsonl") + ": line 2: ", in.resolve("a.jsonl") + ": line 3: unknown field 'colour'",
                in.resolve("b.avro") + ": record 2: ", in.resolve("c.parquet") + ": row 2: max_new_tokens must be >= 1",
                in.resolve("c.parquet") + ": row 3: prompt must be a string", in.resolve("d.avro") + ": not an Avro container",
                in.resolve("e.parquet") + ": not a Parquet file", "duplicate request_id 'p1'"))
            assertTrue(report.contains(want), "report names " + want + ":\n" + report);
        JsonNode summary = Json.MAPPER.readTree(o.toString(StandardCharsets.UTF_8).strip());
        // rows: 4 JSONL lines (the blank one is none), 2 Avro records, 3 Parquet rows, and the two unreadable files
        assertEquals(11, summary.get("requests").asInt(), summary.toString());
        assertEquals(3, summary.get("answered").asInt(), summary.toString());
        assertEquals(8, summary.get("refused").asInt(), summary.toString());
        Map<String, JsonNode> got = new HashMap<>();
        for (String l : lines(out)) got.put(Json.MAPPER.readTree(l).get("request_id").asText(), Json.MAPPER.readTree(l));
        assertEquals(java.util.Set.of("j1", "p1", "v1"), got.keySet());
        assertEquals(8, lines(out.resolve(FileBatch.REJECTED_DIR)).size(), "every rejected row in " + FileBatch.REJECTED_DIR);
    }

    // ---- helpers

    record Run(int code, JsonNode summary, String err) {}

    static List<String> args(Path out, String ck, String... more) {
        List<String> a = new ArrayList<>(List.of("batch", "--model", MODEL, "--input", input.toString(), "--output", out.toString(),
                "--checkpoint-dir", ck, "--checkpoint-interval-ms", "300", "--stages", "2", "--lanes", "2",
                "--readers", "2", "--quiet"));
        a.addAll(List.of(more));
        return a;
    }

    static Run run(List<String> args) throws Exception {
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        String[] argv = args.toArray(String[]::new);
        int code = Cli.run(argv, new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8));
        return new Run(code, Json.MAPPER.readTree(o.toString(StandardCharsets.UTF_8).strip()), e.toString(StandardCharsets.UTF_8));
    }

    static List<Object> completion(JsonNode j) {
        List<Integer> ids = new ArrayList<>();
        j.get("completion_ids").forEach(x -> ids.add(x.asInt()));
        return List.of(j.get("text").asText(), ids, j.get("finish_reason").asText(), j.get("prompt_tokens").asInt());
    }

    static Map<String, List<Object>> engineAlone(List<ObjectNode> lines) throws IOException {
        Map<String, List<Object>> want = new HashMap<>();
        try (CpuBackend b = new CpuBackend(2); Checkpoint c = Checkpoint.open(Path.of(MODEL)); Tokenizer tok = Tokenizer.load(Path.of(MODEL))) {
            ModelConfig k = c.config();
            List<Sequence> seqs = new ArrayList<>();
            for (ObjectNode j : lines) {
                InferenceRequest r = BatchInput.parse(j);
                seqs.add(new Sequence(r.id(), tok.encode(r.prompt()), r.params(), k.eosId(), k.maxPositions()));
            }
            Generator g = new Generator(Shard.whole(c, b), tok, 512);
            for (int i = 0; i < seqs.size(); i += 256) g.run(seqs.subList(i, Math.min(seqs.size(), i + 256)));
            for (Sequence s : seqs)
                want.put(s.id(), List.of(s.text(), java.util.Arrays.stream(s.generated()).boxed().toList(), s.finishReason().wire(), s.promptLength()));
        }
        return want;
    }

    static void writeJsonl(Path file, List<ObjectNode> lines) throws IOException {
        Files.write(file, lines.stream().map(ObjectNode::toString).toList());
    }

    /**
     * Rows of the batch line's columns; a field a JSON object lacks is a null column. Lists in the
     * three-level layout of the Parquet spec, as Arrow writes them.
     */
    static void writeParquet(Path file, List<ObjectNode> rows) throws IOException {
        try (ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(new LocalOutputFile(file)).withSchema(ROW)
                .withDataModel(GenericData.get()).config("parquet.avro.write-old-list-structure", "false").build()) {
            for (ObjectNode j : rows) {
                GenericData.Record r = new GenericData.Record(ROW);
                r.put("request_id", j.get("request_id").asText());
                if (j.has("prompt")) r.put("prompt", j.get("prompt").asText());
                if (j.has("max_new_tokens")) r.put("max_new_tokens", j.get("max_new_tokens").asInt());
                if (j.has("temperature")) r.put("temperature", (float) j.get("temperature").asDouble());
                if (j.has("seed")) r.put("seed", j.get("seed").asLong());
                if (j.has("stop")) {
                    List<String> stop = new ArrayList<>();
                    j.get("stop").forEach(x -> stop.add(x.asText()));
                    r.put("stop", stop);
                }
                if (j.has("metadata")) {
                    Map<String, String> m = new HashMap<>();
                    j.get("metadata").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
                    r.put("metadata", m);
                }
                w.write(r);
            }
        }
    }

    /** Committed part files: what a reader of the directory sees (in-progress and pending files are hidden). */
    static List<Path> committedParts(Path out) throws IOException {
        if (!Files.isDirectory(out)) return List.of();
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> Files.isRegularFile(p) && p.getFileName().toString().startsWith("part-")).sorted().toList();
        }
    }

    static List<String> lines(Path out) throws IOException {
        List<String> all = new ArrayList<>();
        for (Path p : committedParts(out)) all.addAll(Files.readAllLines(p));
        return all;
    }

    static Map<String, JsonNode> parquetParts(Path out) throws IOException {
        Map<String, JsonNode> got = new HashMap<>();
        for (Path p : committedParts(out)) {
            try (ParquetReader<GenericRecord> r = AvroParquetReader.<GenericRecord>builder(new LocalInputFile(p)).withDataModel(GenericData.get()).build()) {
                for (GenericRecord g; (g = r.read()) != null; ) {
                    JsonNode j = Json.MAPPER.readTree(GenericData.get().toString(g));
                    assertNull(got.put(j.get("request_id").asText(), j), "answered once: " + j);
                }
            }
        }
        return got;
    }
}
