package io.mistralflink.model;

import io.mistralflink.model.tokenizer.ChatTemplate;
import io.mistralflink.model.tokenizer.ChatTemplate.Message;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The chat template renders as Hugging Face renders it. Expected strings come from Python jinja2
 * 3.1.6 with Hugging Face's settings (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * loopcontrols, raise_exception) on the same template (Mistral-7B-Instruct-v0.3 style).
 */
class ChatTemplateTest {
    private static ChatTemplate template() {
        return ChatTemplate.load(TestModels.chatModel()).orElseThrow();
    }

    @Test void rendersLikeHuggingFace() throws Exception {
        ChatTemplate t = template();
        assertEquals("<s>[INST] Hello there[/INST]", t.renderRaw(List.of(new Message("user", "Hello there"))));
        assertEquals("<s>[INST] Hi[/INST] Hello!</s>[INST] Be brief.\n\nTell me a story[/INST]", t.renderRaw(List.of(
                new Message("system", "Be brief."), new Message("user", "Hi"),
                new Message("assistant", "  Hello!  "), new Message("user", "Tell me a story"))));
        // the tokenizer adds BOS itself: render() drops the template's
        assertEquals("[INST] Hello there[/INST]", t.render(List.of(new Message("user", "Hello there"))));
    }

    @Test void raiseExceptionFailsTheRender() throws Exception {
        var e = assertThrows(ChatTemplate.TemplateException.class, () -> template().render(List.of(new Message("assistant", "x"))));
        assertTrue(e.getMessage().contains("conversation roles must alternate"), e.getMessage());
    }

    @Test void theExampleModelsHaveNoTemplate() {
        assertTrue(ChatTemplate.load(TestModels.model("tiny-mistral")).isEmpty());
    }
}
