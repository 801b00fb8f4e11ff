package io.mistralflink.operators.pipeline;

import io.mistralflink.model.sampling.SamplingParams;

import java.io.Serializable;
import java.util.Map;

/**
 * A prompt to complete, as the pipeline's scheduler receives it (whatever the wire format was).
 *
 * @param promptIds the prompt already tokenized (BOS included), or null to tokenize {@code prompt}
 */
public record InferenceRequest(String id, String prompt, SamplingParams params, Map<String, String> metadata,
                               long receivedMillis, int[] promptIds) implements Serializable {
    public InferenceRequest {
        metadata = Map.copyOf(metadata);
    }

    public InferenceRequest(String id, String prompt, SamplingParams params, Map<String, String> metadata, long receivedMillis) {
        this(id, prompt, params, metadata, receivedMillis, null);
    }
}
