package io.mistralflink.sql;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.table.catalog.ResolvedCatalogModel;
import org.apache.flink.table.factories.ModelProviderFactory;
import org.apache.flink.table.ml.ModelProvider;

import java.util.Set;

/** {@code CREATE MODEL m INPUT (...) OUTPUT (...) WITH ('provider' = 'mistral-flink', 'model' = DIR, ...)}. */
public final class MistralModelProviderFactory implements ModelProviderFactory {
    public static final String IDENTIFIER = "mistral-flink";

    @Override public String factoryIdentifier() { return IDENTIFIER; }

    @Override public Set<ConfigOption<?>> requiredOptions() { return Set.of(ModelOptions.MODEL); }

    @Override public Set<ConfigOption<?>> optionalOptions() { return ModelOptions.OPTIONAL; }

    @Override public ModelProvider createModelProvider(Context context) {
        ResolvedCatalogModel m = context.getCatalogModel();
        return new MistralModelProvider(ModelOptions.parse(m.getOptions()),
                PredictColumns.of(m.getResolvedInputSchema(), m.getResolvedOutputSchema()));
    }
}
