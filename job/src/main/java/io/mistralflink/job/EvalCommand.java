package io.mistralflink.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.sampling.SamplingParams;
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
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code eval}: a dataset replayed through the pipeline. Each document (a JSONL line with {@code id} and
 * {@code text}, the file optionally xz-compressed, as {@code examples/datasets/brown.jsonl.xz}) becomes
 * BOS + its tokens + EOS. Two metrics:
 * <ul>
 *   <li>{@code --mode perplexity} (default): the first {@code --max-tokens} tokens, every position's next
 *       token scored (teacher forcing, scoring instead of sampling). Per document its tokens, summed
 *       negative log-likelihood and perplexity; overall the perplexity over every scored position.</li>
 *   <li>{@code --mode continuation}: the first {@code --prompt-tokens} tokens as the prompt, a greedy
 *       continuation of {@code --new-tokens} (EOS ignored) against the document's own next tokens. Per
 *       document the share of positions that agree and the length of the common prefix; overall the
 *       share over every generated position.</li>
 * </ul>
 * Results go to {@code --output} (JSONL, one line per document); the overall figures to stdout (one JSON line).
 */
final class EvalCommand {
    static final List<String> OPTIONS;
    static {
        List<String> o = new ArrayList<>(PipelineArgs.OPTIONS);
        o.addAll(List.of("dataset", "output", "mode", "max-tokens", "prompt-tokens", "new-tokens", "ids", "limit"));
        OPTIONS = List.copyOf(o);
    }

    private EvalCommand() {}

    /** A document as tokens: BOS + text + EOS. */
    record Document(String id, int[] ids) {}

    static int run(Args a, PrintStream out, PrintStream err) {
        PipelineConfig config = PipelineArgs.parse(a);
        Path dataset = Path.of(a.required("dataset")), output = Path.of(a.required("output"));
        Path modelDir = Path.of(config.modelDir());
        ModelConfig model = ModelConfig.load(modelDir);
        String mode = a.get("mode", "perplexity");
        if (!mode.equals("perplexity") && !mode.equals("continuation"))
            throw new Args.UsageException("--mode " + mode + ": perplexity or continuation");
        int maxTokens = a.integer("max-tokens", model.maxPositions());
        if (maxTokens < 2 || maxTokens > model.maxPositions())
            throw new Args.UsageException("--max-tokens " + maxTokens + ": between 2 and the model's context of " + model.maxPositions());
        int promptTokens = a.integer("prompt-tokens", 64), newTokens = a.integer("new-tokens", 32);
        if (promptTokens < 1 || newTokens < 1 || promptTokens + newTokens > model.maxPositions())
            throw new Args.UsageException("--prompt-tokens " + promptTokens + " --new-tokens " + newTokens
                    + ": each at least 1, together within the model's context of " + model.maxPositions());
        Set<String> only = a.has("ids") ? new LinkedHashSet<>(Arrays.asList(a.get("ids", "").split(","))) : null;
        int limit = a.integer("limit", Integer.MAX_VALUE);
        List<Document> docs;
        try (Tokenizer tok = Tokenizer.load(modelDir)) {
            docs = documents(dataset, tok, model.eosId(), only, limit, err);
        }
        ObjectNode summary = mode.equals("perplexity") ? perplexity(config, docs, maxTokens, output, err, a.flag("quiet"))
                : continuation(config, docs, promptTokens, newTokens, output, err, a.flag("quiet"));
        out.println(summary);
        return summary.get("refused").asInt() == 0 ? 0 : 1;
    }

    private static ObjectNode perplexity(PipelineConfig config, List<Document> docs, int maxTokens, Path output, PrintStream err, boolean quiet) {
        List<InferenceRequest> requests = new ArrayList<>();
        for (Document d : docs)
            requests.add(new InferenceRequest(d.id(), "", null, Map.of(), System.currentTimeMillis(),
                    Arrays.copyOf(d.ids(), Math.min(d.ids().length, maxTokens)), null, true));
        if (requests.isEmpty()) throw new Args.UsageException("no document to score");
        double[] nll = {0};
        var o = BoundedRun.run("eval", config, requests, output, "documents", "id", EvalCommand::scoreJson,
                c -> c.refused() ? 0 : c.promptTokens() - 1, c -> { if (!c.refused()) nll[0] += c.nll(); }, err, quiet, false);
        ObjectNode s = summary(o);
        s.put("tokens_scored", o.tokens());
        s.put("nll_per_token", o.tokens() == 0 ? Double.NaN : nll[0] / o.tokens());
        s.put("perplexity", o.tokens() == 0 ? Double.NaN : Math.exp(nll[0] / o.tokens()));
        return s;
    }

    private static ObjectNode continuation(PipelineConfig config, List<Document> docs, int promptTokens, int newTokens, Path output,
                                           PrintStream err, boolean quiet) {
        Map<String, int[]> reference = new HashMap<>();
        List<InferenceRequest> requests = new ArrayList<>();
        SamplingParams greedy = new SamplingParams(0f, 1f, 0, 0L, newTokens, true, List.of(), new int[0]);
        for (Document d : docs) {
            if (d.ids().length < promptTokens + newTokens) {
                err.println(d.id() + ": skipped, " + d.ids().length + " tokens are fewer than " + promptTokens + " + " + newTokens);
                continue;
            }
            reference.put(d.id(), Arrays.copyOfRange(d.ids(), promptTokens, promptTokens + newTokens));
            requests.add(new InferenceRequest(d.id(), "", greedy, Map.of(), System.currentTimeMillis(), Arrays.copyOf(d.ids(), promptTokens)));
        }
        if (requests.isEmpty()) throw new Args.UsageException("no document long enough for --prompt-tokens " + promptTokens + " --new-tokens " + newTokens);
        long[] agree = {0};
        var o = BoundedRun.run("eval", config, requests, output, "documents", "id", c -> continuationJson(c, reference.get(c.id())),
                c -> c.completionIds().length, c -> { if (!c.refused()) agree[0] += Agreement.of(c.completionIds(), reference.get(c.id())).agree(); },
                err, quiet, false);
        ObjectNode s = summary(o);
        s.put("tokens_generated", o.tokens());
        s.put("agreement", o.tokens() == 0 ? Double.NaN : (double) agree[0] / o.tokens());
        return s;
    }

    private static ObjectNode summary(BoundedRun.Outcome o) {
        ObjectNode s = Cli.JSON.createObjectNode();
        s.put("documents", o.results() - o.refused());
        s.put("refused", o.refused());
        s.put("seconds", o.seconds());
        s.put("tokens_per_second", o.tokens() / Math.max(1e-9, o.seconds()));
        return s;
    }

    /** Positions where a continuation equals the reference, and the length of their common prefix. */
    record Agreement(int agree, int prefix) {
        static Agreement of(int[] generated, int[] reference) {
            int agree = 0, prefix = 0, n = Math.min(generated.length, reference.length);
            for (int i = 0; i < n; i++) if (generated[i] == reference[i]) agree++;
            while (prefix < n && generated[prefix] == reference[prefix]) prefix++;
            return new Agreement(agree, prefix);
        }
    }

    /** The dataset's documents: BOS + text + EOS. Lines that are not documents are skipped, each named on err. */
    static List<Document> documents(Path dataset, Tokenizer tok, int eosId, Set<String> only, int limit, PrintStream err) {
        List<Document> out = new ArrayList<>();
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
                int[] ids = Arrays.copyOf(body, body.length + 1);
                ids[body.length] = eosId;
                out.add(new Document(id, ids));
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

    static ObjectNode scoreJson(CompletionResult c) {
        ObjectNode o = BoundedRun.line(c, "id");
        if (c.refused()) return o;
        o.put("tokens", c.promptTokens());
        o.put("nll_sum", c.nll());
        o.put("perplexity", Math.exp(c.nll() / (c.promptTokens() - 1)));
        return o;
    }

    static ObjectNode continuationJson(CompletionResult c, int[] reference) {
        ObjectNode o = BoundedRun.line(c, "id");
        if (c.refused()) return o;
        Agreement g = Agreement.of(c.completionIds(), reference);
        o.put("prompt_tokens", c.promptTokens());
        Cli.ints(o.putArray("generated"), c.completionIds());
        Cli.ints(o.putArray("reference"), reference);
        o.put("agreement", (double) g.agree() / reference.length);
        o.put("common_prefix", g.prefix());
        return o;
    }
}
