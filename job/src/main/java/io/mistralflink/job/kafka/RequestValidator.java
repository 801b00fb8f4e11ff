package io.mistralflink.job.kafka;

import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.GenerationRequest;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Checks a decoded {@link GenerationRequest} before it enters the pipeline. Pure and serializable:
 * no I/O, no Flink. {@link #validate} returns the reason for rejecting the request, or empty.
 *
 * <p>Checks that need more than the record (e.g. the prompt's token count against the model's
 * context, which needs the tokenizer) are added with {@link #withCheck(Check)}; they run after the
 * built-in checks, in the order added, and the first reason wins.
 */
public final class RequestValidator implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Default upper bound for max_new_tokens. */
    public static final int DEFAULT_MAX_NEW_TOKENS_LIMIT = 32_768;

    /** An extra check: returns a human-readable reason to reject, or empty. */
    @FunctionalInterface
    public interface Check extends Serializable {
        Optional<String> check(GenerationRequest request);
    }

    private final int maxNewTokensLimit;
    private final List<Check> extraChecks;

    public RequestValidator() {
        this(DEFAULT_MAX_NEW_TOKENS_LIMIT);
    }

    public RequestValidator(int maxNewTokensLimit) {
        this(maxNewTokensLimit, List.of());
    }

    private RequestValidator(int maxNewTokensLimit, List<Check> extraChecks) {
        if (maxNewTokensLimit < 1) throw new IllegalArgumentException("maxNewTokensLimit must be >= 1");
        this.maxNewTokensLimit = maxNewTokensLimit;
        this.extraChecks = List.copyOf(extraChecks);
    }

    /** A validator that also runs {@code check} (after the built-in checks and earlier extra checks). */
    public RequestValidator withCheck(Check check) {
        List<Check> checks = new ArrayList<>(extraChecks);
        checks.add(check);
        return new RequestValidator(maxNewTokensLimit, checks);
    }

    public int maxNewTokensLimit() {
        return maxNewTokensLimit;
    }

    /** The reason to reject the request, or empty if it is acceptable. */
    public Optional<String> validate(GenerationRequest r) {
        String builtIn = builtInReason(r);
        if (builtIn != null) return Optional.of(builtIn);
        for (Check c : extraChecks) {
            Optional<String> reason = c.check(r);
            if (reason != null && reason.isPresent()) return reason;
        }
        return Optional.empty();
    }

    private String builtInReason(GenerationRequest r) {
        if (r.getRequestId() == null || r.getRequestId().isBlank()) {
            return "request_id is empty";
        }
        List<ChatMessage> messages = r.getMessages();
        boolean hasPrompt = r.getPrompt() != null && !r.getPrompt().isEmpty();
        boolean hasMessages = messages != null && !messages.isEmpty();
        if (!hasPrompt && !hasMessages) {
            return "empty prompt: give a non-empty prompt or at least one message";
        }
        if (hasMessages) {
            for (int i = 0; i < messages.size(); i++) {
                ChatMessage m = messages.get(i);
                if (m == null) return "messages[" + i + "] is null";
                if (m.getRole() == null || m.getRole().isBlank()) return "messages[" + i + "].role is empty";
                if (m.getContent() == null) return "messages[" + i + "].content is null";
            }
        }
        int max = r.getMaxNewTokens();
        if (max < 1) {
            return "max_new_tokens is " + max + ", must be >= 1";
        }
        if (max > maxNewTokensLimit) {
            return "max_new_tokens is " + max + ", above the limit of " + maxNewTokensLimit;
        }
        Float t = r.getTemperature();
        if (t != null && (t.isNaN() || t < 0f || t.isInfinite())) {
            return "temperature is " + t + ", must be a finite number >= 0";
        }
        Float p = r.getTopP();
        if (p != null && (p.isNaN() || p <= 0f || p > 1f)) {
            return "top_p is " + p + ", must be in (0, 1]";
        }
        Integer k = r.getTopK();
        if (k != null && k < 0) {
            return "top_k is " + k + ", must be >= 0 (0 disables it)";
        }
        Float minP = r.getMinP();
        if (minP != null && (minP.isNaN() || minP < 0f || minP > 1f)) {
            return "min_p is " + minP + ", must be in [0, 1] (0 disables it)";
        }
        List<String> stop = r.getStop();
        if (stop != null) {
            for (int i = 0; i < stop.size(); i++) {
                if (stop.get(i) == null || stop.get(i).isEmpty()) return "stop[" + i + "] is empty";
            }
        }
        List<Integer> stopIds = r.getStopTokenIds();
        if (stopIds != null) {
            for (int i = 0; i < stopIds.size(); i++) {
                if (stopIds.get(i) == null || stopIds.get(i) < 0) return "stop_token_ids[" + i + "] is " + stopIds.get(i) + ", must be >= 0";
            }
        }
        return null;
    }
}
