package io.mistralflink.operators.pipeline;

import io.mistralflink.model.sampling.SamplingParams;

import java.io.Serializable;
import java.util.Map;

/**
 * A prompt to complete, as the pipeline's scheduler receives it (whatever the wire format was).
 *
 * @param promptIds the prompt already tokenized (BOS included), or null to tokenize {@code prompt}
 * @param source    the record as it arrived (a Kafka value), or null: a refusal hands it back, so that a
 *                  dead letter loses nothing; the scheduler keeps nothing of it once it admits the request
 * @param score     score the prompt (teacher forcing: the likelihood of each next token) instead of
 *                  extending it; params are then unused. A job scores or samples: a step never mixes them
 */
public record InferenceRequest(String id, String prompt, SamplingParams params, Map<String, String> metadata,
                               long receivedMillis, int[] promptIds, byte[] source, boolean score) implements Serializable {
    public InferenceRequest {
        metadata = Map.copyOf(metadata);
    }

    public InferenceRequest(String id, String prompt, SamplingParams params, Map<String, String> metadata, long receivedMillis) {
        this(id, prompt, params, metadata, receivedMillis, null, null, false);
    }

    public InferenceRequest(String id, String prompt, SamplingParams params, Map<String, String> metadata, long receivedMillis,
                            int[] promptIds) {
        this(id, prompt, params, metadata, receivedMillis, promptIds, null, false);
    }
}
