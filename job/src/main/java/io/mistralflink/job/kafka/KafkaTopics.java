package io.mistralflink.job.kafka;

import java.io.Serializable;
import java.util.List;
import java.util.Objects;

/** The three topics of the system. */
public record KafkaTopics(String prompts, String completions, String deadLetters) implements Serializable {

    public static final String DEFAULT_PROMPTS = "prompts";
    public static final String DEFAULT_COMPLETIONS = "completions";
    public static final String DEFAULT_DEAD_LETTERS = "dead-letters";

    public KafkaTopics {
        Objects.requireNonNull(prompts, "prompts");
        Objects.requireNonNull(completions, "completions");
        Objects.requireNonNull(deadLetters, "deadLetters");
    }

    public static KafkaTopics defaults() {
        return new KafkaTopics(DEFAULT_PROMPTS, DEFAULT_COMPLETIONS, DEFAULT_DEAD_LETTERS);
    }

    public List<String> all() {
        return List.of(prompts, completions, deadLetters);
    }
}
