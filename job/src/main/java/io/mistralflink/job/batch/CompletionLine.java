package io.mistralflink.job.batch;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.mistralflink.operators.pipeline.CompletionResult;

import java.util.Map;

/**
 * A batch's output line ({@code batch --output F.jsonl}, and the JSONL part files with the timings):
 * the request's id and either its completion or, refused, its error alone. Absent fields are left out.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CompletionLine(String requestId, String error, String text, int[] completionIds, Integer promptTokens,
                             Integer completionTokens, String finishReason, Map<String, String> metadata,
                             Long queuedMs, Long prefillMs, Long decodeMs) {

    public static CompletionLine of(CompletionResult c) {
        if (c.refused()) return new CompletionLine(c.id(), c.error(), null, null, null, null, null, null, null, null, null);
        return new CompletionLine(c.id(), null, c.text(), c.completionIds(), c.promptTokens(), c.completionIds().length, c.finishReason(),
                c.metadata().isEmpty() ? null : c.metadata(), null, null, null);
    }

    /** With the request's times in the pipeline: queued, prefill, decode (ms). */
    static CompletionLine withTimings(CompletionResult c) {
        CompletionLine l = of(c);
        if (c.refused()) return l;
        return new CompletionLine(l.requestId, null, l.text, l.completionIds, l.promptTokens, l.completionTokens, l.finishReason, l.metadata,
                c.queuedMs(), c.prefillMs(), c.decodeMs());
    }
}
