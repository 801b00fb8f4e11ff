package io.mistralflink.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A checkpoint's chat template ({@code chat_template} of {@code tokenizer_config.json}), rendered as
 * Hugging Face's {@code apply_chat_template(messages, tokenize=False, add_generation_prompt=True)}
 * renders it: Jinja with {@code trim_blocks} and {@code lstrip_blocks}, the special tokens of
 * tokenizer_config.json as variables, and {@code raise_exception(msg)} failing the render.
 *
 * <p>Hugging Face then tokenizes the text without adding special tokens: the template writes BOS
 * itself. Our tokenizer adds BOS, so {@link #render} drops one leading {@code bos_token} from the
 * text; tokenizing the result with BOS gives the ids Hugging Face gives.
 */
public final class ChatTemplate {

    /** One turn of a conversation: who speaks ({@code system}, {@code user}, {@code assistant}) and what. */
    public record Message(String role, String content) {}

    /** Rendering failed: the template raised an exception or could not be evaluated. */
    public static final class TemplateException extends RuntimeException {
        TemplateException(String message) { super(message); }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final Map<String, Object> specialTokens;
    private final String bosToken;
    private transient Jinjava jinjava;

    private ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = source;
        this.specialTokens = specialTokens;
        Object bos = specialTokens.get("bos_token");
        this.bosToken = bos instanceof String s ? s : "";
    }

    /** The template of a model directory, or empty if it has none. */
    public static Optional<ChatTemplate> load(Path modelDir) {
        Path file = modelDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(file)) return Optional.empty();
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": not valid JSON", e);
        }
        JsonNode t = n.get("chat_template");
        String text = null;
        if (t != null && t.isTextual()) text = t.textValue();
        else if (t != null && t.isArray()) // a list of named templates: the "default" one
            for (JsonNode e : t) if ("default".equals(e.path("name").asText())) text = e.path("template").asText();
        if (text == null || text.isBlank()) return Optional.empty();
        Map<String, Object> special = new HashMap<>();
        for (String k : List.of("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")) {
            JsonNode v = n.get(k);
            if (v == null || v.isNull()) continue;
            special.put(k, v.isTextual() ? v.textValue() : v.path("content").asText()); // AddedToken dicts have "content"
        }
        return Optional.of(new ChatTemplate(text, special));
    }

    /** The prompt text of {@code messages}, with the generation prompt added; leading BOS dropped (see class doc). */
    public String render(List<Message> messages) {
        String text = renderRaw(messages);
        return !bosToken.isEmpty() && text.startsWith(bosToken) ? text.substring(bosToken.length()) : text;
    }

    /** Exactly what Hugging Face's {@code apply_chat_template(..., tokenize=False)} returns. */
    public String renderRaw(List<Message> messages) {
        Map<String, Object> ctx = new HashMap<>(specialTokens);
        List<Map<String, Object>> ms = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> mm = new LinkedHashMap<>();
            mm.put("role", m.role());
            mm.put("content", m.content());
            ms.add(mm);
        }
        ctx.put("messages", ms);
        ctx.put("add_generation_prompt", true);
        RenderResult r = engine().renderForResult(source, ctx);
        for (TemplateError e : r.getErrors())
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) throw new TemplateException(message(e));
        return r.getOutput();
    }

    private static String message(TemplateError e) {
        String m = e.getMessage();
        Throwable c = e.getException();
        while (c != null) {
            if (c instanceof TemplateException) return c.getMessage();
            c = c.getCause();
        }
        return m;
    }

    private Jinjava engine() {
        if (jinjava == null) {
            // Python Jinja's semantics where Jinjava keeps legacy behaviour by default ({{- -}} trimming,
            // operator precedence, whitespace control, nullable loop values, backslashes in quotes)
            LegacyOverrides python = LegacyOverrides.newBuilder()
                    .withUseTrimmingForNotesAndExpressions(true)
                    .withUseNaturalOperatorPrecedence(true)
                    .withParseWhitespaceControlStrictly(true)
                    .withKeepNullableLoopValues(true)
                    .withHandleBackslashInQuotesOnly(true)
                    .withUsePyishObjectMapper(true)
                    .build();
            Jinjava j = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                    .withLegacyOverrides(python).withFailOnUnknownTokens(false).build());
            j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
            jinjava = j;
        }
        return jinjava;
    }

    /** {@code raise_exception(message)} of Hugging Face templates. */
    public static Object raiseException(String message) {
        throw new TemplateException("the chat template refused the messages: " + message);
    }
}
