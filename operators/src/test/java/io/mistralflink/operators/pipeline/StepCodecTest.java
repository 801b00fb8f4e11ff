package io.mistralflink.operators.pipeline;

import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.operators.frame.Draw;
import io.mistralflink.operators.frame.FrameIpc;
import io.mistralflink.operators.frame.MicroBatchFrame;
import io.mistralflink.operators.frame.MicroBatchFrameSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Property: any step, of either kind, with ragged parts, any sampling parameters and releases, comes
 * back from its frame as it went in, in the JVM and through Arrow IPC; so do the last stage's answers.
 */
class StepCodecTest {
    private static final int STEPS = 600;

    @Test void everyStepSurvivesItsFrameAndArrowIpc() throws Exception {
        SplittableRandom rnd = new SplittableRandom(17);
        int drawn = 0, scored = 0, releasing = 0, empty = 0;
        for (int n = 0; n < STEPS; n++) {
            Step s = randomStep(rnd);
            MicroBatchFrame f = StepCodec.encode(s);
            assertEquals(s, StepCodec.decode(f), "in the JVM");
            assertEquals(s, StepCodec.decode(MicroBatchFrame.fromIpc(f.toIpc())), "through IPC");
            assertEquals(s, StepCodec.decode(throughSerializer(f)), "through the Flink serializer");
            // What a middle stage sends on: the same step, now with hidden state.
            MicroBatchFrame hidden = f.withValues(3, new float[f.rows() * 3]);
            assertEquals(s, StepCodec.decode(MicroBatchFrame.fromIpc(hidden.toIpc())), "with values");
            assertEquals(0, FrameIpc.allocatedBytes());
            for (Step.Part p : s.parts()) drawn += p.draw() != null ? 1 : 0;
            scored += s.kind() == Step.Kind.SCORE ? 1 : 0;
            releasing += s.releases().isEmpty() ? 0 : 1;
            empty += s.parts().isEmpty() ? 1 : 0;
            answersRoundTrip(s, rnd);
        }
        // The generator reaches every case.
        assertTrue(drawn > STEPS && scored > STEPS / 4 && releasing > STEPS / 4 && empty > 10,
                drawn + " draws, " + scored + " scoring steps, " + releasing + " with releases, " + empty + " empty");
    }

    private static void answersRoundTrip(Step s, SplittableRandom rnd) {
        int k = s.parts().size();
        if (s.kind() == Step.Kind.GENERATE) {
            int[] tokens = rnd.ints(k, 0, 32768).toArray();
            TokenBatch b = StepCodec.answer(MicroBatchFrame.fromIpc(StepCodec.drawn(s, tokens).toIpc()), 0);
            List<String> ids = new ArrayList<>();
            List<Integer> want = new ArrayList<>();
            for (int i = 0; i < k; i++)
                if (s.parts().get(i).draw() != null) { ids.add(s.parts().get(i).requestId()); want.add(tokens[i]); }
            assertEquals(ids, List.of(b.requestIds()));
            assertArrayEquals(want.stream().mapToInt(Integer::intValue).toArray(), b.tokens());
            for (double x : b.nll()) assertTrue(Double.isNaN(x), "a drawn row carries no loss");
            header(s, b);
        } else {
            double[] nll = rnd.doubles(k).map(x -> x * 1e4).toArray();
            TokenBatch b = StepCodec.answer(MicroBatchFrame.fromIpc(StepCodec.scored(s, nll).toIpc()), 0);
            assertEquals(k, b.requestIds().length);
            for (int i = 0; i < k; i++) {
                Step.Part p = s.parts().get(i);
                assertEquals(p.requestId(), b.requestIds()[i]);
                assertEquals(p.tokens().length - (p.target() < 0 ? 1 : 0), b.tokens()[i], "positions scored");
                assertEquals(Double.doubleToRawLongBits(nll[i]), Double.doubleToRawLongBits(b.nll()[i]), "loss, exact");
            }
            header(s, b);
        }
    }

    private static void header(Step s, TokenBatch b) {
        assertEquals(s.lane(), b.lane());
        assertEquals(s.step(), b.step());
    }

    private static MicroBatchFrame throughSerializer(MicroBatchFrame f) throws Exception {
        DataOutputSerializer out = new DataOutputSerializer(256);
        MicroBatchFrameSerializer.INSTANCE.serialize(f, out);
        return MicroBatchFrameSerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
    }

    static Step randomStep(SplittableRandom rnd) {
        Step.Kind kind = rnd.nextInt(3) == 0 ? Step.Kind.SCORE : Step.Kind.GENERATE;
        List<String> releases = new ArrayList<>();
        if (rnd.nextBoolean()) for (int i = rnd.nextInt(1, 4); i > 0; i--) releases.add(id(rnd));
        List<Step.Part> parts = new ArrayList<>();
        int n = rnd.nextInt(10) == 0 ? 0 : rnd.nextInt(1, 9);
        for (int i = 0; i < n; i++) {
            int len = rnd.nextInt(4) == 0 ? rnd.nextInt(1, 70) : 1; // prefill chunks among decode rows
            int[] tokens = rnd.ints(len, 0, 32768).toArray();
            String id = "r" + i + "-" + id(rnd); // neighbouring parts belong to different requests
            if (kind == Step.Kind.SCORE) parts.add(new Step.Part(id, rnd.nextInt(4096), tokens, null, rnd.nextBoolean() ? rnd.nextInt(32768) : -1));
            else parts.add(new Step.Part(id, rnd.nextInt(4096), tokens, rnd.nextInt(4) == 0 ? null : new Draw(params(rnd), rnd.nextInt(1 << 20)), -1));
        }
        return new Step("0/" + rnd.nextInt(8) + "#" + rnd.nextInt(50), rnd.nextLong(1, Long.MAX_VALUE), rnd.nextInt(4), kind, releases, parts);
    }

    private static SamplingParams params(SplittableRandom rnd) {
        float temperature = rnd.nextInt(4) == 0 ? 0f : (float) rnd.nextDouble(0, 2);
        float topP = rnd.nextBoolean() ? 1f : (float) rnd.nextDouble(Math.ulp(0f), 1);
        float minP = rnd.nextBoolean() ? 0f : (float) rnd.nextDouble(0, 1);
        return new SamplingParams(temperature, topP, rnd.nextBoolean() ? 0 : rnd.nextInt(1, 200), minP, rnd.nextLong(),
                rnd.nextInt(1, 512), rnd.nextBoolean(), rnd.nextBoolean() ? List.of() : List.of("\n\n", "stop"), rnd.ints(rnd.nextInt(3), 0, 9).toArray());
    }

    private static String id(SplittableRandom rnd) {
        String[] pieces = {"a", "é", "日本", "-", "7", "req", "🙂"};
        StringBuilder b = new StringBuilder();
        for (int i = rnd.nextInt(1, 6); i > 0; i--) b.append(pieces[rnd.nextInt(pieces.length)]);
        return b.toString();
    }
}
