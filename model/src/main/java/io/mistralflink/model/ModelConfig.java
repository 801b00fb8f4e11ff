package io.mistralflink.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The hyper-parameters of a Mistral or Mixtral checkpoint, read from Hugging Face {@code config.json}.
 *
 * @param window sliding window W in tokens; a model without one (Mixtral) gets its context length,
 *               so that "attend to the last W keys" covers both.
 * @param experts number of experts, 0 for a dense feed-forward
 */
public record ModelConfig(
        String modelType, int vocabSize, int dim, int hiddenDim, int layers, int heads, int kvHeads,
        int headDim, int window, boolean hasSlidingWindow, int maxPositions, float normEps, double ropeTheta,
        int experts, int expertsPerToken, boolean tiedEmbeddings, int bosId, int eosId) {

    public boolean isMixtureOfExperts() { return experts > 0; }
    public int kvDim() { return kvHeads * headDim; }
    public int qDim() { return heads * headDim; }

    public static ModelConfig load(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new ModelException(file + ": missing (a model directory needs config.json)");
        JsonNode n;
        try { n = new ObjectMapper().readTree(file.toFile()); }
        catch (IOException e) { throw new ModelException(file + ": not valid JSON: " + e.getMessage(), e); }
        return parse(n, file.toString());
    }

    public static ModelConfig parse(JsonNode n, String source) {
        Fields f = new Fields(n, source);
        String type = f.text("model_type");
        if (!type.equals("mistral") && !type.equals("mixtral") && !type.equals("llama"))
            throw new ModelException(source + ": model_type '" + type + "' is not supported (mistral, mixtral)");
        int dim = f.positive("hidden_size");
        int heads = f.positive("num_attention_heads");
        int kvHeads = n.has("num_key_value_heads") && !n.get("num_key_value_heads").isNull() ? f.positive("num_key_value_heads") : heads;
        if (heads % kvHeads != 0)
            throw new ModelException(source + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        int headDim = n.hasNonNull("head_dim") ? f.positive("head_dim") : dim / heads;
        int maxPos = f.positive("max_position_embeddings");
        boolean sliding = n.hasNonNull("sliding_window");
        int window = sliding ? f.positive("sliding_window") : maxPos;
        double theta;
        if (n.hasNonNull("rope_theta")) theta = n.get("rope_theta").asDouble();
        else if (n.has("rope_parameters") && n.get("rope_parameters").hasNonNull("rope_theta"))
            theta = n.get("rope_parameters").get("rope_theta").asDouble();
        else theta = 10000.0;
        int experts = type.equals("mixtral") ? f.positive("num_local_experts") : 0;
        int perToken = type.equals("mixtral") ? f.positive("num_experts_per_tok") : 0;
        if (perToken > experts) throw new ModelException(source + ": num_experts_per_tok " + perToken + " exceeds num_local_experts " + experts);
        return new ModelConfig(type, f.positive("vocab_size"), dim, f.positive("intermediate_size"),
                f.positive("num_hidden_layers"), heads, kvHeads, headDim, window, sliding, maxPos,
                (float) n.path("rms_norm_eps").asDouble(1e-5), theta, experts, perToken,
                n.path("tie_word_embeddings").asBoolean(false), n.path("bos_token_id").asInt(1),
                n.path("eos_token_id").isArray() ? n.get("eos_token_id").get(0).asInt() : n.path("eos_token_id").asInt(2));
    }

    private record Fields(JsonNode n, String source) {
        String text(String field) {
            if (!n.hasNonNull(field)) throw new ModelException(source + ": field '" + field + "' is missing");
            return n.get(field).asText();
        }
        int positive(String field) {
            if (!n.hasNonNull(field)) throw new ModelException(source + ": field '" + field + "' is missing");
            JsonNode v = n.get(field);
            if (!v.canConvertToInt() || v.asInt() <= 0)
                throw new ModelException(source + ": field '" + field + "' must be a positive integer, got " + v);
            return v.asInt();
        }
    }
}
