package io.mistralflink.model.bench;

import io.mistralflink.model.ModelConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The decode step's bytes behind the bandwidth bound of {@code bench}, against the sizes counted by hand. */
class DecodeBytesTest {
    @Test void weightsOncePlusEachSequencesWindowOfKeysAndValues() {
        ModelConfig m = RandomCheckpoint.shape("mistral-7b", 32);   // 32 layers, 8 kv heads x 128, window 4,096
        double perKey = 32 * 2.0 * 8 * 128 * 2;                    // a position's keys and values in every layer, bf16
        // past the window every step reads the whole window: 8 sequences, 8,192-token prompts
        assertEquals(14.5e9 + 8 * 4096 * perKey, Bench.decodeBytesPerStep(m, 14.5e9, 8, 8192, 64, 2), 1);
        // inside it the keys grow a step at a time: positions 101..104 seen over 4 steps, mean 102.5
        assertEquals(1e9 + 2 * 102.5 * perKey, Bench.decodeBytesPerStep(m, 1e9, 2, 100, 4, 2), 1e-3);
    }
}
