package io.mistralflink.model.generate;

import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.StreamingDetokenizer;
import io.mistralflink.model.tokenizer.Tokenizer;

import java.util.Arrays;

/**
 * One request's tokens: the prompt, what has been generated, and how far the caches have been fed.
 * Tokens are the truth; a cache is derived from them and can always be rebuilt by feeding them again.
 * A scoring sequence ({@link #scoring}) generates nothing: its prompt is fed in chunks whose every
 * position's next token is scored, and it finishes once all of them have been.
 */
public final class Sequence implements java.io.Serializable {
    private static final long serialVersionUID = 768362854867165658L;   // fields only added since: old snapshots read

    private final String id;
    private final int[] prompt;
    private final SamplingParams params;
    private final int eosId, contextLength;
    private transient StreamingDetokenizer detokenizer;
    private final StringBuilder text = new StringBuilder();
    private int[] generated = new int[16];
    private int count, fed;
    private FinishReason finish;
    private final boolean scoring;
    private double nllSum;
    private int scored;

    public Sequence(String id, int[] prompt, SamplingParams params, int eosId, int contextLength) {
        this(id, prompt, params, eosId, contextLength, false);
        if (prompt.length == 0) throw new IllegalArgumentException(id + ": empty prompt");
        if (prompt.length >= contextLength)
            throw new IllegalArgumentException(id + ": prompt of " + prompt.length + " tokens leaves no room in the model's context of " + contextLength);
    }

    /** A sequence to score, not to extend: 2 to contextLength tokens (every position but the last has a next token). */
    public static Sequence scoring(String id, int[] tokens, int contextLength) {
        if (tokens.length < 2) throw new IllegalArgumentException(id + ": " + tokens.length + " token(s): nothing to score");
        if (tokens.length > contextLength)
            throw new IllegalArgumentException(id + ": " + tokens.length + " tokens exceed the model's context of " + contextLength);
        return new Sequence(id, tokens, null, -1, contextLength, true);
    }

    private Sequence(String id, int[] prompt, SamplingParams params, int eosId, int contextLength, boolean scoring) {
        this.id = id; this.prompt = prompt.clone(); this.params = params; this.eosId = eosId; this.contextLength = contextLength;
        this.scoring = scoring;
    }

    public String id() { return id; }
    public int[] prompt() { return prompt.clone(); }
    public int promptLength() { return prompt.length; }
    public SamplingParams params() { return params; }
    public int[] generated() { return Arrays.copyOf(generated, count); }
    public int generatedCount() { return count; }
    public boolean finished() { return finish != null; }
    public FinishReason finishReason() { return finish; }
    public String text() { return text.toString(); }
    public boolean prefilling() { return fed < prompt.length; }

    /** Position of the next token to feed: every position before it is in the caches. */
    public int fed() { return fed; }

    /**
     * The tokens of this sequence's next step: a prefill chunk of at most min(budget, window) prompt
     * tokens, or the last sampled token.
     */
    public int[] nextTokens(int budget, int window) {
        int known = prompt.length + count;
        int n = Math.min(known - fed, Math.min(budget, window));
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int p = fed + i;
            out[i] = p < prompt.length ? prompt[p] : generated[p - prompt.length];
        }
        return out;
    }

    /** Whether a step of n tokens from {@link #fed()} reaches the newest token, so its logits pick the next. */
    public boolean samplesAfter(int n) { return !scoring && fed + n == prompt.length + count; }

    public boolean scoring() { return scoring; }

    /** The token after a step of n tokens from {@link #fed()}, whose likelihood that step's last position scores; -1 at the end. */
    public int scoreTarget(int n) { return fed + n < prompt.length ? prompt[fed + n] : -1; }

    /** A scored step's summed negative log-likelihood over n positions; the sequence finishes with its last position scored. */
    public void addScores(double nll, int n) {
        if (!scoring || finish != null) throw new IllegalStateException(id + " takes no scores");
        nllSum += nll;
        scored += n;
        if (scored == prompt.length - 1) finish = FinishReason.SCORED;
    }

    /** Sum over the scored positions of -log p(next token). */
    public double nllSum() { return nllSum; }

    /** Positions scored so far (prompt length - 1 once finished). */
    public int scored() { return scored; }

    /** The caches now hold n more positions. */
    public void advance(int n) { fed += n; }

    /** Forgets the caches (after a restore): the next steps re-feed every token, and re-score it (scores are derived too). */
    public void rewind() {
        fed = 0;
        if (scoring && finish == null) { nllSum = 0; scored = 0; }
    }

    /** The step number of the next sample, the input of its seeded draw. */
    public int step() { return count; }

    /**
     * Records a sampled token and decides whether the sequence is done. The tokenizer turns tokens into
     * text as they come, to find stop strings; the final text is the decoding of all generated tokens.
     */
    public void append(int token, Tokenizer tokenizer) {
        if (finish != null) throw new IllegalStateException(id + " already finished");
        if (count == generated.length) generated = Arrays.copyOf(generated, count * 2);
        generated[count++] = token;
        boolean eos = !params.ignoreEos() && token == eosId;
        boolean stopId = Arrays.stream(params.stopTokenIds()).anyMatch(s -> s == token);
        if (tokenizer != null && !params.stop().isEmpty() && !eos) {
            if (detokenizer == null) {
                // Fresh, or restored from a snapshot: catch up on the tokens before this one.
                detokenizer = new StreamingDetokenizer(tokenizer);
                text.setLength(0);
                for (int i = 0; i < count - 1; i++) text.append(detokenizer.accept(generated[i]));
            }
            int before = text.length();
            text.append(detokenizer.accept(token));
            if (stopString(before)) return;
        }
        if (eos || stopId) finish = FinishReason.STOP;
        else if (count >= params.maxNewTokens() || prompt.length + count >= contextLength) finish = FinishReason.LENGTH;
        if (finish != null && tokenizer != null) {
            text.setLength(0);
            text.append(tokenizer.decode(generated, 0, count));
        }
    }

    /** Cuts the text at the first stop string that the last increment completed. */
    private boolean stopString(int before) {
        for (String s : params.stop()) {
            if (s.isEmpty()) continue;
            int at = text.indexOf(s, Math.max(0, before - s.length() + 1));
            if (at >= 0) {
                text.setLength(at);
                finish = FinishReason.STOP;
                return true;
            }
        }
        return false;
    }
}
