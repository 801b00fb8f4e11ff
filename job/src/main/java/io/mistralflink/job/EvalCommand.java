package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
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

        double[] nll = {0};
        var o = BoundedRun.run("eval", config, docs, output, "documents", EvalCommand::json, c -> c.refused() ? 0 : c.promptTokens() - 1,
                c -> { if (!c.refused()) nll[0] += c.nll(); }, err, a.flag("quiet"));
        long tokens = o.tokens();
        ObjectNode s = Cli.JSON.createObjectNode();
        s.put("documents", o.results() - o.refused());
        s.put("tokens_scored", tokens);
        s.put("nll_per_token", tokens == 0 ? Double.NaN : nll[0] / tokens);
        s.put("perplexity", tokens == 0 ? Double.NaN : Math.exp(nll[0] / tokens));
        s.put("seconds", o.seconds());
        s.put("tokens_per_second", tokens / Math.max(1e-9, o.seconds()));
        out.println(s);
        return o.results() == docs.size() && o.refused() == 0 ? 0 : 1;
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
