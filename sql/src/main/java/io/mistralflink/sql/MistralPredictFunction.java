package io.mistralflink.sql;

import io.mistralflink.model.ModelConfig;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.sampling.SamplingParams;
import io.mistralflink.model.tokenizer.ChatTemplate;
import io.mistralflink.model.tokenizer.Tokenizer;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.functions.FunctionContext;

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * {@code ML_PREDICT} over the slot's {@link ServingEngine}: each row is rendered (a chat template for
 * {@code messages}), tokenized and checked here, on the task's thread, then generated in the engine's
 * batch with the other rows in flight. A row that cannot be answered (prompt too long for the context,
 * bad sampling values, no or a refusing chat template) gives NULL columns and a {@code finish_reason}
 * of {@code error: <code>: <why>}; the query goes on.
 *
 * <p>Sampling: the row's columns where it has them, else the model's options; the seed, if neither
 * names one, is derived from the prompt text ({@link SamplingParams#stableSeed}), so a row replayed
 * after a failure draws the same tokens.
 */
public final class MistralPredictFunction extends AsyncPredictFunction {
    private static final long serialVersionUID = 1L;

    private final ModelOptions options;
    private final PredictColumns columns;
    private transient ServingEngine engine;
    private transient Tokenizer tokenizer;
    private transient ModelConfig config;
    private transient Optional<ChatTemplate> template;
    private transient long rows;

    public MistralPredictFunction(ModelOptions options, PredictColumns columns) {
        this.options = options;
        this.columns = columns;
    }

    @Override public void open(FunctionContext context) {
        Path dir = Path.of(options.model());
        config = ModelConfig.load(dir);
        template = ChatTemplate.load(dir);
        tokenizer = Tokenizer.load(dir); // the task thread's own: the engine decodes with another
        engine = new ServingEngine(options, context.getTaskInfo().getIndexOfThisSubtask());
    }

    @Override public CompletableFuture<Collection<RowData>> asyncPredict(RowData row) {
        Object p = prepare(columns.read(row));
        if (p instanceof String refusal) return CompletableFuture.completedFuture(List.of(columns.refusal(refusal)));
        return engine.submit((Sequence) p).thenApply(s -> List.of(columns.answer(s)));
    }

    /** The row's {@link Sequence}, or why it cannot be answered ({@code code: reason}). */
    Object prepare(PredictColumns.RowRequest r) {
        String prompt;
        if (r.prompt() != null && !r.prompt().isEmpty()) {
            prompt = r.prompt();
        } else if (r.messages() == null || r.messages().isEmpty()) {
            return "invalid_request: empty prompt: give a non-empty prompt or at least one message";
        } else {
            for (int i = 0; i < r.messages().size(); i++) {
                ChatTemplate.Message m = r.messages().get(i);
                if (m == null) return "invalid_request: messages[" + i + "] is null";
                if (m.role() == null || m.role().isBlank()) return "invalid_request: messages[" + i + "].role is empty";
                if (m.content() == null) return "invalid_request: messages[" + i + "].content is null";
            }
            if (template.isEmpty())
                return "no_chat_template: the model " + Path.of(options.model()).getFileName()
                        + " has no chat_template in tokenizer_config.json; give a prompt instead of messages";
            try {
                prompt = template.get().render(r.messages());
            } catch (RuntimeException e) {
                return "chat_template: " + e.getMessage();
            }
        }
        SamplingParams params;
        try {
            params = new SamplingParams(
                    r.temperature() != null ? r.temperature() : options.temperature(),
                    r.topP() != null ? r.topP() : options.topP(),
                    r.topK() != null ? r.topK() : options.topK(),
                    r.minP() != null ? r.minP() : options.minP(),
                    r.seed() != null ? r.seed() : options.seed() != null ? options.seed() : SamplingParams.stableSeed(prompt),
                    r.maxNewTokens() != null ? r.maxNewTokens() : options.maxNewTokens(),
                    options.ignoreEos(), List.of(), new int[0]);
        } catch (IllegalArgumentException e) {
            return "invalid_request: " + e.getMessage();
        }
        int[] ids;
        try {
            ids = tokenizer.encode(prompt);
        } catch (RuntimeException e) {
            return "check_failed: the prompt cannot be tokenized: " + e;
        }
        if (ids.length >= config.maxPositions())
            return "prompt_too_long: prompt of " + ids.length + " tokens does not fit the model's context of " + config.maxPositions() + " tokens";
        return new Sequence("row-" + rows++, ids, params, config.eosId(), config.maxPositions());
    }

    @Override public void close() throws Exception {
        if (engine != null) engine.close();
        if (tokenizer != null) tokenizer.close();
    }
}
