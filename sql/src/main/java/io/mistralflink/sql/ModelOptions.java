package io.mistralflink.sql;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.ModelException;
import io.mistralflink.model.compute.Backends;
import io.mistralflink.model.sampling.SamplingParams;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.table.api.ValidationException;

import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The {@code WITH} options of {@code CREATE MODEL ... WITH ('provider' = 'mistral-flink', ...)}, parsed and
 * checked: every key known, the model directory a checkpoint, every number a number in range. The
 * sampling options are the defaults of rows that do not carry their own ({@link PredictColumns}).
 * docs/sql.md has the table.
 */
public record ModelOptions(String model, String device, int threads, int maxNewTokens, float temperature, float topP,
                           int topK, float minP, Long seed, int maxBatchTokens, boolean ignoreEos) implements Serializable {

    public static final ConfigOption<String> MODEL = ConfigOptions.key("model").stringType().noDefaultValue()
            .withDescription("directory of the Hugging Face checkpoint (config.json, safetensors, tokenizer.json)");
    public static final ConfigOption<String> DEVICE = ConfigOptions.key("device").stringType().defaultValue("cpu")
            .withDescription("cpu, cuda, cuda:N, cuda:N,M,... (slots take the GPUs in turn) or auto");
    public static final ConfigOption<Integer> THREADS = ConfigOptions.key("threads").intType().defaultValue(0)
            .withDescription("CPU threads of each slot's engine; 0: every core");
    public static final ConfigOption<Integer> MAX_NEW_TOKENS = ConfigOptions.key("max-new-tokens").intType().defaultValue(128)
            .withDescription("tokens to generate at most, for rows without a max_new_tokens column");
    public static final ConfigOption<Float> TEMPERATURE = ConfigOptions.key("temperature").floatType().defaultValue(0f)
            .withDescription("0 is greedy; for rows without a temperature column");
    public static final ConfigOption<Float> TOP_P = ConfigOptions.key("top-p").floatType().defaultValue(1f)
            .withDescription("nucleus sampling, in (0, 1]");
    public static final ConfigOption<Integer> TOP_K = ConfigOptions.key("top-k").intType().defaultValue(0)
            .withDescription("keep the k likeliest tokens; 0 disables");
    public static final ConfigOption<Float> MIN_P = ConfigOptions.key("min-p").floatType().defaultValue(0f)
            .withDescription("keep the tokens at least min-p times as likely as the likeliest, in [0, 1]; 0 disables");
    public static final ConfigOption<Long> SEED = ConfigOptions.key("seed").longType().noDefaultValue()
            .withDescription("seed of rows without a seed column; unset: a seed derived from the row's prompt");
    public static final ConfigOption<Integer> MAX_BATCH_TOKENS = ConfigOptions.key("max-batch-tokens").intType().defaultValue(512)
            .withDescription("token budget of one engine step (decode tokens first, then prefill chunks)");
    public static final ConfigOption<Boolean> IGNORE_EOS = ConfigOptions.key("ignore-eos").booleanType().defaultValue(false)
            .withDescription("generate past EOS up to the row's max_new_tokens (benchmarks)");
    /** Flink's common model option; this provider only generates text. */
    public static final ConfigOption<String> TASK = ConfigOptions.key("task").stringType().defaultValue("text_generation")
            .withDescription("text_generation (the only task)");

    static final Set<ConfigOption<?>> OPTIONAL = Set.of(DEVICE, THREADS, MAX_NEW_TOKENS, TEMPERATURE, TOP_P, TOP_K, MIN_P, SEED, MAX_BATCH_TOKENS, IGNORE_EOS, TASK);
    private static final String PROVIDER = "provider";

    /** The options of a {@code CREATE MODEL}, or a {@link ValidationException} naming the first bad one. */
    public static ModelOptions parse(Map<String, String> options) {
        Map<String, String> o = new LinkedHashMap<>(options);
        o.remove(PROVIDER);
        Set<String> known = new TreeSet<>();
        known.add(MODEL.key());
        OPTIONAL.forEach(c -> known.add(c.key()));
        List<String> unknown = new ArrayList<>();
        for (String k : o.keySet()) if (!known.contains(k)) unknown.add(k);
        if (!unknown.isEmpty())
            throw fail("unknown option" + (unknown.size() > 1 ? "s " : " ") + String.join(", ", unknown.stream().map(k -> "'" + k + "'").toList())
                    + " (known: " + String.join(", ", known) + ")");
        String model = o.get(MODEL.key());
        if (model == null || model.isBlank()) throw fail("option 'model' is required: the directory of a checkpoint");
        Path dir = Path.of(model);
        if (!Files.isDirectory(dir)) throw fail("option 'model': " + model + " is not a directory");
        try {
            ModelConfig.load(dir);
        } catch (ModelException | java.io.UncheckedIOException e) {
            throw fail("option 'model': " + e.getMessage());
        }
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) throw fail("option 'model': " + model + " has no tokenizer.json");
        String device = o.getOrDefault(DEVICE.key(), DEVICE.defaultValue());
        try {
            Backends.checkName(device);
        } catch (IllegalArgumentException e) {
            throw fail("option 'device': " + e.getMessage());
        }
        String task = o.getOrDefault(TASK.key(), TASK.defaultValue());
        if (!task.toLowerCase(Locale.ROOT).equals("text_generation")) throw fail("option 'task' is '" + task + "': this provider only does text_generation");
        int threads = integer(o, THREADS, 0, 4096);
        int maxNew = integer(o, MAX_NEW_TOKENS, 1, Integer.MAX_VALUE);
        int budget = integer(o, MAX_BATCH_TOKENS, 1, 1 << 20);
        float t = decimal(o, TEMPERATURE), p = decimal(o, TOP_P), minP = decimal(o, MIN_P);
        int k = integer(o, TOP_K, 0, Integer.MAX_VALUE);
        Long seed = o.containsKey(SEED.key()) ? number(o, SEED, Long::parseLong) : null;
        String eos = o.getOrDefault(IGNORE_EOS.key(), "false").strip().toLowerCase(Locale.ROOT);
        if (!eos.equals("true") && !eos.equals("false")) throw fail("option 'ignore-eos' is '" + o.get(IGNORE_EOS.key()) + "', must be true or false");
        try {
            new SamplingParams(t, p, k, minP, 0, maxNew, false, List.of(), new int[0]);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage(); // "top_p must be in (0, 1], got 2.0": name it as the option
            int sp = m.indexOf(' ');
            throw fail("option '" + m.substring(0, sp).replace('_', '-') + "'" + m.substring(sp));
        }
        return new ModelOptions(model, device, threads, maxNew, t, p, k, minP, seed, budget, eos.equals("true"));
    }

    private static int integer(Map<String, String> o, ConfigOption<Integer> c, int min, int max) {
        int v = o.containsKey(c.key()) ? number(o, c, Integer::parseInt) : c.defaultValue();
        if (v < min || v > max) throw fail("option '" + c.key() + "' is " + v + ", must be " + (max == Integer.MAX_VALUE ? ">= " + min : "in [" + min + ", " + max + "]"));
        return v;
    }

    private static float decimal(Map<String, String> o, ConfigOption<Float> c) {
        float v = o.containsKey(c.key()) ? number(o, c, Float::parseFloat) : c.defaultValue();
        if (!Float.isFinite(v)) throw fail("option '" + c.key() + "' is " + o.get(c.key()) + ", must be a finite number");
        return v;
    }

    private static <T> T number(Map<String, String> o, ConfigOption<?> c, java.util.function.Function<String, T> parse) {
        String v = o.get(c.key());
        try {
            return parse.apply(v.strip());
        } catch (NumberFormatException e) {
            throw fail("option '" + c.key() + "' is '" + v + "', not a number");
        }
    }

    static ValidationException fail(String message) {
        return new ValidationException("mistral-flink model: " + message);
    }
}
