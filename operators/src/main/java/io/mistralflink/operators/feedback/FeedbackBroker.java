package io.mistralflink.operators.feedback;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The JVM-wide meeting point of colocated heads and tails: whichever side comes first creates the
 * channel, the other finds it. See the package documentation for the placement this requires.
 */
public final class FeedbackBroker {
    private static final ConcurrentHashMap<FeedbackKey, FeedbackChannel<?>> CHANNELS = new ConcurrentHashMap<>();

    private FeedbackBroker() {}

    /** The channel of {@code key}, created if absent. Call once, in open(), and keep the reference. */
    @SuppressWarnings("unchecked")
    public static <T> FeedbackChannel<T> get(FeedbackKey key) {
        return (FeedbackChannel<T>) CHANNELS.computeIfAbsent(key, FeedbackChannel::new);
    }

    /** Closes and forgets the channel of {@code key}; idempotent, so head and tail may both call it. */
    public static void remove(FeedbackKey key) {
        FeedbackChannel<?> channel = CHANNELS.remove(key);
        if (channel != null) channel.close();
    }

    /** Channels currently open in this JVM (tests, leak checks). */
    public static int size() { return CHANNELS.size(); }
}
