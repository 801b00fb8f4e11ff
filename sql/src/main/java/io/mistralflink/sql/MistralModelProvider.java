package io.mistralflink.sql;

import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.ml.AsyncPredictRuntimeProvider;
import org.apache.flink.table.ml.ModelProvider;

/** The checked options and columns of a {@code CREATE MODEL}; its predict function batches on an engine per slot. */
public final class MistralModelProvider implements AsyncPredictRuntimeProvider {
    private final ModelOptions options;
    private final PredictColumns columns;

    public MistralModelProvider(ModelOptions options, PredictColumns columns) {
        this.options = options;
        this.columns = columns;
    }

    @Override public AsyncPredictFunction createAsyncPredictFunction(Context context) {
        return new MistralPredictFunction(options, columns);
    }

    @Override public ModelProvider copy() { return new MistralModelProvider(options, columns); }
}
