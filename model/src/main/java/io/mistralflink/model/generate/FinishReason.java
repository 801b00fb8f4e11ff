package io.mistralflink.model.generate;

public enum FinishReason {
    /** EOS, a stop token id or a stop string. */
    STOP,
    /** max new tokens, or the model's context. */
    LENGTH,
    /** a scoring sequence (teacher forcing) has had every position scored. */
    SCORED;

    public String wire() { return name().toLowerCase(java.util.Locale.ROOT); }
}
