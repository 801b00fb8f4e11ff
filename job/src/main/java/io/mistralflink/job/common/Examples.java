package io.mistralflink.job.common;

import io.mistralflink.schemas.GenerationRequest;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** What the project ships under {@code examples/} (the demo's model, the Brown corpus), found from its home. */
public final class Examples {
    private Examples() {}

    /** Home of the project, as the launcher passes it ({@code -Dmistral.flink.home}). */
    public static Path home() {
        return Path.of(System.getProperty("mistral.flink.home", ".")).toAbsolutePath();
    }

    public static Path tinyMistral() { return home().resolve("examples/models/tiny-mistral"); }

    public static Path brown() { return home().resolve("examples/datasets/brown.jsonl.xz"); }

    /** N prompts from the Brown corpus: paragraph openings, greedy and seeded alternately. */
    public static List<GenerationRequest> brownRequests(Path corpus, int n, int maxNewTokens) {
        List<String> paragraphs = new ArrayList<>();
        try (var in = new BufferedReader(new InputStreamReader(new XZInputStream(Files.newInputStream(corpus)), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null && paragraphs.size() < Math.max(64, 4 * n); )
                for (String p : Json.MAPPER.readTree(line).get("text").asText().split("\n")) if (p.strip().length() > 40) paragraphs.add(p.strip());
        } catch (IOException e) {
            throw new UncheckedIOException(corpus + ": cannot be read", e);
        }
        SplittableRandom r = new SplittableRandom(7);
        for (int i = paragraphs.size() - 1; i > 0; i--) Collections.swap(paragraphs, i, r.nextInt(i + 1));
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String p = paragraphs.get(i % paragraphs.size());
            String prompt = p.substring(0, Math.min(p.length(), 60 + r.nextInt(120)));
            GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId(String.format("demo-%03d", i))
                    .setPrompt(prompt).setMaxNewTokens(maxNewTokens).setMetadata(Map.of("source", "brown"));
            if (i % 2 == 1) b.setTemperature(0.8f).setTopP(0.95f).setSeed(1000L + i);
            out.add(b.build());
        }
        return out;
    }
}
