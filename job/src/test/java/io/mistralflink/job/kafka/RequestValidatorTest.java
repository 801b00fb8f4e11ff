package io.mistralflink.job.kafka;

import io.mistralflink.schemas.ChatMessage;
import io.mistralflink.schemas.GenerationRequest;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

class RequestValidatorTest {

    private final RequestValidator v = new RequestValidator(1000);

    static GenerationRequest req(Consumer<GenerationRequest.Builder> edit) {
        GenerationRequest.Builder b = GenerationRequest.newBuilder().setRequestId("r1").setPrompt("Hello").setMaxNewTokens(16);
        edit.accept(b);
        return b.build();
    }

    private void accepts(GenerationRequest r) {
        assertEquals(Optional.empty(), v.validate(r), r.toString());
    }

    private void rejects(GenerationRequest r, String reasonPart) {
        Optional<String> reason = v.validate(r);
        assertTrue(reason.isPresent(), "accepted " + r);
        assertTrue(reason.get().contains(reasonPart), reason.get());
    }

    @Test
    void acceptsPlausibleRequests() {
        accepts(req(b -> {}));
        accepts(req(b -> b.setTemperature(0f).setTopP(1f).setTopK(0).setSeed(-5L).setMaxNewTokens(1000)));
        accepts(req(b -> b.setTemperature(1.3f).setTopP(1e-6f).setTopK(50).setStop(List.of("\n")).setStopTokenIds(List.of(0, 2))));
        accepts(req(b -> b.setPrompt(null).setMessages(List.of(new ChatMessage("user", "hi")))));
        accepts(req(b -> b.setPrompt("").setMessages(List.of(new ChatMessage("user", "")))));
        accepts(req(b -> b.setPrompt(" "))); // whitespace is a prompt (one token)
    }

    @Test
    void rejectsEmptyPromptWithoutMessages() {
        rejects(req(b -> b.setPrompt(null)), "empty prompt");
        rejects(req(b -> b.setPrompt("")), "empty prompt");
        rejects(req(b -> b.setPrompt("").setMessages(List.of())), "empty prompt");
        rejects(req(b -> b.setPrompt(null).setMessages(List.of(new ChatMessage(" ", "x")))), "messages[0].role is empty");
    }

    @Test
    void rejectsBadMaxNewTokens() {
        rejects(req(b -> b.setMaxNewTokens(-1)), "max_new_tokens is -1, must be >= 1");
        rejects(req(b -> b.setMaxNewTokens(0)), "max_new_tokens is 0");
        rejects(req(b -> b.setMaxNewTokens(1001)), "above the limit of 1000");
        rejects(req(b -> b.setMaxNewTokens(Integer.MAX_VALUE)), "above the limit");
    }

    @Test
    void rejectsBadSamplingParameters() {
        rejects(req(b -> b.setTemperature(Float.NaN)), "temperature is NaN");
        rejects(req(b -> b.setTemperature(-0.1f)), "temperature is -0.1");
        rejects(req(b -> b.setTemperature(Float.POSITIVE_INFINITY)), "temperature is Infinity");
        rejects(req(b -> b.setTopP(0f)), "top_p is 0.0, must be in (0, 1]");
        rejects(req(b -> b.setTopP(1.01f)), "top_p is 1.01");
        rejects(req(b -> b.setTopP(Float.NaN)), "top_p is NaN");
        rejects(req(b -> b.setTopK(-1)), "top_k is -1");
        rejects(req(b -> b.setStop(List.of("ok", ""))), "stop[1] is empty");
        rejects(req(b -> b.setStopTokenIds(List.of(-2))), "stop_token_ids[0] is -2");
        rejects(req(b -> b.setRequestId(" ")), "request_id is empty");
    }

    @Test
    void extraChecksRunAfterBuiltInOnesInOrder() throws Exception {
        RequestValidator withChecks = v
                .withCheck(r -> r.getPrompt() != null && r.getPrompt().length() > 10
                        ? Optional.of("prompt is " + r.getPrompt().length() + " chars, longer than the context") : Optional.empty())
                .withCheck(r -> Optional.of("second check always rejects"));
        assertEquals(Optional.of("prompt is 11 chars, longer than the context"), withChecks.validate(req(b -> b.setPrompt("hello world"))));
        assertEquals(Optional.of("second check always rejects"), withChecks.validate(req(b -> {})));
        // built-in reasons come first
        assertTrue(withChecks.validate(req(b -> b.setMaxNewTokens(-1))).get().startsWith("max_new_tokens"));
        // the original is unchanged
        accepts(req(b -> b.setPrompt("hello world")));
        // serializable (it travels inside a Flink function)
        RequestValidator copy = InstantiationUtil.clone(withChecks);
        assertEquals(withChecks.validate(req(b -> b.setPrompt("hello world"))), copy.validate(req(b -> b.setPrompt("hello world"))));
        assertThrows(IllegalArgumentException.class, () -> new RequestValidator(0));
    }
}
