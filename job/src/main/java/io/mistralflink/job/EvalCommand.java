package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.Pipeline;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code eval}: a dataset replayed through the pipeline, scoring instead of sampling. Each document (a
 * JSONL line with {@code id} and {@code text}, the file optionally xz-compressed, as
 * {@code examples/datasets/brown.jsonl.xz}) becomes BOS + its tokens + EOS, cut to the first
 * {@code --max-tokens}; every position's next token is scored (teacher forcing, prefill in chunks). Per
 * document: tokens, summed negative log-likelihood and perplexity (JSONL); overall: the perplexity over
 * every scored position (one JSON line on stdout).
 */
final class EvalCommand {
    static final List<String> OPTIONS;
    static {
        List<String> o = new ArrayList<>(PipelineArgs.OPTIONS);
        o.addAll(List.of("dataset", "output", "max-tokens", "ids", "limit"));
        OPTIONS = List.copyOf(o);
    }

    private EvalCommand() {}

    static int run(Args a, PrintStream out, PrintStream err) {
        PipelineConfig config = PipelineArgs.parse(a);
        Path dataset = Path.of(a.required("dataset")), output = Path.of(a.required("output"));
        Path modelDir = Path.of(config.modelDir());
        ModelConfig model = ModelConfig.load(modelDir);
        int maxTokens = a.integer("max-tokens", model.maxPositions());
        if (maxTokens < 2 || maxTokens > model.maxPositions())
            throw new Args.UsageException("--max-tokens " + maxTokens + ": between 2 and the model's context of " + model.maxPositions());
        Set<String> only = a.has("ids") ? new LinkedHashSet<>(Arrays.asList(a.get("ids", "").split(","))) : null;
        int limit = a.integer("limit", Integer.MAX_VALUE);
        List<InferenceRequest> docs;
        try (Tokenizer tok = Tokenizer.load(modelDir)) {
            docs = documents(dataset, tok, model.eosId(), maxTokens, only, limit, err);
        }
        if (docs.isEmpty()) throw new Args.UsageException("--dataset " + dataset + ": no document to score");

        StreamExecutionEnvironment env = PipelineArgs.localEnvironment(config, new Configuration());
        var results = Pipeline.build(env.fromData(docs).setParallelism(1), config);
        long start = System.nanoTime(), tokens = 0;
        double nll = 0;
        int done = 0, refused = 0;
        BatchCommand.Progress progress = new BatchCommand.Progress(err, docs.size(), a.flag("quiet"), "documents");
        try (BufferedWriter w = Files.newBufferedWriter(output);
             CloseableIterator<CompletionResult> it = results.executeAndCollect("mistral-flink eval")) {
            while (it.hasNext()) {
                CompletionResult c = it.next();
                w.write(json(c).toString());
                w.newLine();
                done++;
                if (c.refused()) refused++;
                else {
                    tokens += c.promptTokens() - 1;
                    nll += c.nll();
                }
                progress.update(done, tokens, System.nanoTime() - start);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("--output " + output + ": " + e.getMessage(), e);
        } catch (Exception e) {
            throw new IllegalStateException("eval run failed: " + e.getMessage(), e);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        progress.finish(done, tokens, System.nanoTime() - start);
        if (refused > 0) err.println(refused + " document(s) refused: see \"error\" in " + output);
        ObjectNode s = Cli.JSON.createObjectNode();
        s.put("documents", done - refused);
        s.put("tokens_scored", tokens);
        s.put("nll_per_token", tokens == 0 ? Double.NaN : nll / tokens);
        s.put("perplexity", tokens == 0 ? Double.NaN : Math.exp(nll / tokens));
        s.put("seconds", seconds);
        s.put("tokens_per_second", tokens / Math.max(1e-9, seconds));
        out.println(s);
        return done == docs.size() && refused == 0 ? 0 : 1;
    }

    /** Score requests: BOS + text + EOS, the first maxTokens tokens (a shorter document ends with EOS). */
    static List<InferenceRequest> documents(Path dataset, Tokenizer tok, int eosId, int maxTokens, Set<String> only,
                                            int limit, PrintStream err) {
        List<InferenceRequest> out = new ArrayList<>();
        try (InputStream raw = Files.newInputStream(dataset);
             BufferedReader in = new BufferedReader(new InputStreamReader(
                     dataset.toString().endsWith(".xz") ? new XZInputStream(raw) : raw, StandardCharsets.UTF_8))) {
            int lineNo = 0;
            for (String line; (line = in.readLine()) != null && out.size() < limit; ) {
                lineNo++;
                if (line.isBlank()) continue;
                JsonNode d;
                try {
                    d = Cli.JSON.readTree(line);
                } catch (IOException e) {
                    err.println(dataset + ":" + lineNo + ": skipped, not JSON: " + e.getMessage());
                    continue;
                }
                String id = d.path("id").asText(""), text = d.path("text").asText("");
                if (id.isEmpty() || text.isEmpty()) {
                    err.println(dataset + ":" + lineNo + ": skipped, needs a non-empty \"id\" and \"text\"");
                    continue;
                }
                if (only != null && !only.contains(id)) continue;
                int[] body = tok.encode(text);
                int[] ids = Arrays.copyOf(body, Math.min(body.length + 1, maxTokens));
                if (ids.length > body.length) ids[body.length] = eosId;
                out.add(new InferenceRequest(id, "", null, Map.of(), System.currentTimeMillis(), ids, null, true));
            }
        } catch (IOException e) {
            throw new Args.UsageException("--dataset " + dataset + ": " + e.getMessage());
        }
        if (only != null) {
            Set<String> missing = new LinkedHashSet<>(only);
            out.forEach(r -> missing.remove(r.id()));
            if (!missing.isEmpty()) err.println("--ids: not in " + dataset + ": " + String.join(",", missing));
        }
        return out;
    }

    static ObjectNode json(CompletionResult c) {
        ObjectNode o = Cli.JSON.createObjectNode();
        o.put("id", c.id());
        if (c.refused()) {
            o.put("error", c.error());
            return o;
        }
        int scored = c.promptTokens() - 1;
        o.put("tokens", c.promptTokens());
        o.put("nll_sum", c.nll());
        o.put("perplexity", Math.exp(c.nll() / scored));
        return o;
    }
}
