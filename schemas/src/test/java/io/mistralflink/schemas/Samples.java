package io.mistralflink.schemas;

import java.util.List;
import java.util.Map;

/** Fully populated sample records. */
final class Samples {
    private Samples() {}

    static GenerationRequest request() {
        return GenerationRequest.newBuilder()
                .setRequestId("req-1")
                .setPrompt("The capital of France is")
                .setMessages(List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Héllo ✓")))
                .setMaxNewTokens(32)
                .setTemperature(0.7f)
                .setTopP(0.9f)
                .setTopK(40)
                .setMinP(0.05f)
                .setSeed(1234567890123L)
                .setStop(List.of("\n\n", "</s>"))
                .setStopTokenIds(List.of(2, 7))
                .setIgnoreEos(true)
                .setMetadata(Map.of("user", "alice", "trace", "t-9"))
                .build();
    }

    static GenerationRequest minimalRequest() {
        return GenerationRequest.newBuilder().setRequestId("req-min").setPrompt("hi").setMaxNewTokens(1).build();
    }

    static Completion completion() {
        return Completion.newBuilder()
                .setRequestId("req-1")
                .setText(" Paris.")
                .setCompletionIds(List.of(5465, 29491, 2))
                .setFinishReason("stop")
                .setPromptTokens(7)
                .setCompletionTokens(3)
                .setTimings(new Timings(1L, 20L, 300L))
                .setModel("tiny-mistral")
                .setMetadata(Map.of("user", "alice"))
                .build();
    }

    static DeadLetter deadLetter() {
        return DeadLetter.newBuilder()
                .setRequestId("req-bad")
                .setReason("invalid_request: max_new_tokens is -1, must be >= 1")
                .setOriginal(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3, (byte) 0xC3}))
                .setTopic("prompts")
                .setPartition(2)
                .setOffset(41L)
                .build();
    }
}
