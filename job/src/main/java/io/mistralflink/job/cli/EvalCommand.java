package io.mistralflink.job.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.job.batch.BoundedRun;
import io.mistralflink.job.common.Json;
import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.operators.pipeline.CompletionResult;
import io.mistralflink.operators.pipeline.InferenceRequest;
import io.mistralflink.operators.pipeline.PipelineConfig;
import org.tukaani.xz.XZInputStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

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
@Command(name = "eval", description = {
        "replays a dataset (BOS + text + EOS per document) through the same pipeline.",
        "perplexity (default): per document the first --max-tokens tokens scored, their summed loss and perplexity; on stdout the perplexity over every scored token.",
        "continuation: the first --prompt-tokens tokens as the prompt, --new-tokens greedy tokens against the document's own next ones: "
                + "per document the share that agree and the common prefix; on stdout the share over all"})
public final class EvalCommand extends CliCommand {
    @Option(names = "--dataset", paramLabel = "F.jsonl[.xz]", required = true, description = "documents: {\"id\": str, \"text\": str} lines, optionally xz-compressed")
    Path dataset;

    @Option(names = "--output", paramLabel = "G.jsonl", required = true, description = "one line per document")
    Path output;

    @Option(names = "--mode", paramLabel = "perplexity|continuation", defaultValue = "perplexity", description = "what to measure")
    String mode;

    @Option(names = "--max-tokens", paramLabel = "N", description = "perplexity: tokens scored per document (default: the model's context)")
    Integer maxTokens;

    @Option(names = "--prompt-tokens", paramLabel = "K", defaultValue = "64", description = "continuation: the prompt's tokens")
    int promptTokens;

    @Option(names = "--new-tokens", paramLabel = "M", defaultValue = "32", description = "continuation: tokens generated and compared")
    int newTokens;

    @Option(names = "--ids", paramLabel = "a,b", split = ",", description = "only these documents")
    List<String> ids;

    @Option(names = "--limit", paramLabel = "D", defaultValue = "" + Integer.MAX_VALUE, description = "at most D documents", showDefaultValue = picocli.CommandLine.Help.Visibility.NEVER)
    int limit;

    @Option(names = "--quiet", description = "no progress line")
    boolean quiet;

    @Mixin PipelineOptions pipeline;

    /** A document as tokens: BOS + text + EOS. */
    record Document(String id, int[] ids) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    record ScoreLine(String id, String error, Integer tokens, Double nllSum, Double perplexity) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    record ContinuationLine(String id, String error, Integer promptTokens, int[] generated, int[] reference, Double agreement, Integer commonPrefix) {}

    /** The overall figures, one JSON line on stdout. */
    sealed interface Summary permits PerplexitySummary, ContinuationSummary { int refused(); }

    record PerplexitySummary(int documents, int refused, double seconds, double tokensPerSecond, long tokensScored, double nllPerToken,
                             double perplexity) implements Summary {}

    record ContinuationSummary(int documents, int refused, double seconds, double tokensPerSecond, long tokensGenerated, double agreement)
            implements Summary {}

    @Override public Integer call() {
        PipelineConfig config = pipeline.config();
        Path modelDir = Path.of(config.modelDir());
        ModelConfig model = ModelConfig.load(modelDir);
        if (!mode.equals("perplexity") && !mode.equals("continuation"))
            throw new UsageException("--mode " + mode + ": perplexity or continuation");
        int max = maxTokens == null ? model.maxPositions() : maxTokens;
        if (max < 2 || max > model.maxPositions())
            throw new UsageException("--max-tokens " + max + ": between 2 and the model's context of " + model.maxPositions());
        if (promptTokens < 1 || newTokens < 1 || promptTokens + newTokens > model.maxPositions())
            throw new UsageException("--prompt-tokens " + promptTokens + " --new-tokens " + newTokens
                    + ": each at least 1, together within the model's context of " + model.maxPositions());
        List<Document> docs;
        try (Tokenizer tok = Tokenizer.load(modelDir)) {
            docs = documents(dataset, tok, model.eosId(), ids == null ? null : new LinkedHashSet<>(ids), limit, err);
        }
        Summary s = mode.equals("perplexity") ? perplexity(config, docs, max, output, err, quiet)
                : continuation(config, docs, promptTokens, newTokens, output, err, quiet);
        out.println(Json.line(s));
        return s.refused() == 0 ? 0 : 1;
    }

    private static PerplexitySummary perplexity(PipelineConfig config, List<Document> docs, int maxTokens, Path output, PrintStream err,
                                                boolean quiet) {
        List<InferenceRequest> requests = new ArrayList<>();
        for (Document d : docs)
            requests.add(new InferenceRequest(d.id(), "", null, Map.of(), System.currentTimeMillis(),
                    Arrays.copyOf(d.ids(), Math.min(d.ids().length, maxTokens)), null, true));
        if (requests.isEmpty()) throw new UsageException("no document to score");
        double[] nll = {0};
        var o = BoundedRun.run("eval", config, requests, output, "documents", "id", EvalCommand::scoreLine,
                c -> c.refused() ? 0 : c.promptTokens() - 1, c -> { if (!c.refused()) nll[0] += c.nll(); }, err, quiet, false);
        return new PerplexitySummary(o.results() - o.refused(), o.refused(), o.seconds(), tokensPerSecond(o), o.tokens(),
                o.tokens() == 0 ? Double.NaN : nll[0] / o.tokens(), o.tokens() == 0 ? Double.NaN : Math.exp(nll[0] / o.tokens()));
    }

    private static ContinuationSummary continuation(PipelineConfig config, List<Document> docs, int promptTokens, int newTokens, Path output,
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
        if (requests.isEmpty()) throw new UsageException("no document long enough for --prompt-tokens " + promptTokens + " --new-tokens " + newTokens);
        long[] agree = {0};
        var o = BoundedRun.run("eval", config, requests, output, "documents", "id", c -> continuationLine(c, reference.get(c.id())),
                c -> c.completionIds().length, c -> { if (!c.refused()) agree[0] += Agreement.of(c.completionIds(), reference.get(c.id())).agree(); },
                err, quiet, false);
        return new ContinuationSummary(o.results() - o.refused(), o.refused(), o.seconds(), tokensPerSecond(o), o.tokens(),
                o.tokens() == 0 ? Double.NaN : (double) agree[0] / o.tokens());
    }

    private static double tokensPerSecond(BoundedRun.Outcome o) { return o.tokens() / Math.max(1e-9, o.seconds()); }

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
                    d = Json.MAPPER.readTree(line);
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
            throw new UsageException("--dataset " + dataset + ": " + e.getMessage());
        }
        if (only != null) {
            Set<String> missing = new LinkedHashSet<>(only);
            out.forEach(r -> missing.remove(r.id()));
            if (!missing.isEmpty()) err.println("--ids: not in " + dataset + ": " + String.join(",", missing));
        }
        return out;
    }

    static ScoreLine scoreLine(CompletionResult c) {
        if (c.refused()) return new ScoreLine(c.id(), c.error(), null, null, null);
        return new ScoreLine(c.id(), null, c.promptTokens(), c.nll(), Math.exp(c.nll() / (c.promptTokens() - 1)));
    }

    static ContinuationLine continuationLine(CompletionResult c, int[] reference) {
        if (c.refused()) return new ContinuationLine(c.id(), c.error(), null, null, null, null, null);
        Agreement g = Agreement.of(c.completionIds(), reference);
        return new ContinuationLine(c.id(), null, c.promptTokens(), c.completionIds(), reference, (double) g.agree() / reference.length, g.prefix());
    }
}
