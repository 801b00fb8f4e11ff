package io.mistralflink.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.mistralflink.model.tokenizer.StreamingDetokenizer;
import io.mistralflink.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TokenizerTest {
    @Test void everyReferenceCaseMatchesIdsAndText() {
        try (Tokenizer t = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            int cases = 0;
            for (JsonNode c : TestModels.reference().path("tokenizer")) {
                int[] ids = TestModels.ints(c.get("ids"));
                assertArrayEquals(ids, t.encode(c.get("text").asText()), "ids of " + c.get("text"));
                assertEquals(c.get("decoded").asText(), t.decode(ids), "decoded " + c.get("text"));
                cases++;
            }
            assertTrue(cases >= 10, "reference has tokenizer cases");
        }
    }

    @Test void streamingNeverEmitsHalfACharacter() {
        try (Tokenizer t = Tokenizer.load(TestModels.model("tiny-mistral"))) {
            String text = "café — über naïve æsir, emoji 😀 and 中文 end";
            int[] ids = t.encode(text);
            StreamingDetokenizer d = new StreamingDetokenizer(t);
            StringBuilder out = new StringBuilder();
            for (int i = 1; i < ids.length; i++) {
                String piece = d.accept(ids[i]);
                assertFalse(piece.contains("\uFFFD"), "piece " + i + " holds a broken character: " + piece);
                out.append(piece);
            }
            assertEquals(t.decode(java.util.Arrays.copyOfRange(ids, 1, ids.length)), out.toString());
        }
    }
}
