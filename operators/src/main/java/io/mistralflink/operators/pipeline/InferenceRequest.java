package io.mistralflink.operators.pipeline;

import io.mistralflink.model.sampling.SamplingParams;

import java.io.Serializable;
import java.util.Map;

/** A prompt to complete, as the pipeline's scheduler receives it (whatever the wire format was). */
public record InferenceRequest(String id, String prompt, SamplingParams params, Map<String, String> metadata,
                               long receivedMillis) implements Serializable {
    public InferenceRequest {
        metadata = Map.copyOf(metadata);
    }
}
