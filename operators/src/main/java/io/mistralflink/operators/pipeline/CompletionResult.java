package io.mistralflink.operators.pipeline;

import java.io.Serializable;
import java.util.Map;

/**
 * A finished request, or a refused one ({@code error} set, nothing generated).
 *
 * @param queuedMs from receipt to admission into a lane; prefillMs to the first token; decodeMs after it
 * @param source   a refused request's {@link InferenceRequest#source()} (null otherwise)
 * @param nll      a scored request's summed negative log-likelihood over its promptTokens - 1 positions (0 otherwise)
 */
public record CompletionResult(String id, String text, int[] completionIds, int promptTokens, String finishReason,
                               long queuedMs, long prefillMs, long decodeMs, Map<String, String> metadata,
                               String error, byte[] source, double nll) implements Serializable {

    public static CompletionResult refused(InferenceRequest req, String reason) {
        return refused(req.id(), req.metadata(), reason, req.source());
    }

    public static CompletionResult refused(String id, Map<String, String> metadata, String reason, byte[] source) {
        return new CompletionResult(id, "", new int[0], 0, "error", 0, 0, 0, metadata, reason, source, 0);
    }

    public boolean refused() { return error != null; }
}
