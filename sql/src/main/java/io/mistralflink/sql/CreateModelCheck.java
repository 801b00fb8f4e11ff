package io.mistralflink.sql;

import org.apache.flink.table.catalog.CatalogModel;
import org.apache.flink.table.catalog.ResolvedCatalogModel;
import org.apache.flink.table.catalog.listener.AlterModelEvent;
import org.apache.flink.table.catalog.listener.CatalogModificationListener;
import org.apache.flink.table.catalog.listener.CatalogModificationListenerFactory;
import org.apache.flink.table.catalog.listener.CreateModelEvent;
import org.apache.flink.configuration.ConfigOption;

import java.util.Set;

/**
 * Checks a {@code CREATE MODEL} (and {@code ALTER MODEL}) of this provider when it is executed, not only
 * when a query first uses the model: Flink calls model providers at planning time only. Enabled with
 * {@code table.catalog-modification.listeners = mistral-flink} (the {@code sql} command sets it).
 */
public final class CreateModelCheck implements CatalogModificationListenerFactory {
    @Override public String factoryIdentifier() { return MistralModelProviderFactory.IDENTIFIER; }

    @Override public Set<ConfigOption<?>> requiredOptions() { return Set.of(); }

    @Override public Set<ConfigOption<?>> optionalOptions() { return Set.of(); }

    @Override public CatalogModificationListener createListener(Context context) {
        return event -> {
            CatalogModel m = event instanceof CreateModelEvent c ? c.model() : event instanceof AlterModelEvent a ? a.newModel() : null;
            if (m == null || !MistralModelProviderFactory.IDENTIFIER.equals(m.getOptions().get("provider"))) return;
            ModelOptions.parse(m.getOptions());
            if (m instanceof ResolvedCatalogModel r) PredictColumns.of(r.getResolvedInputSchema(), r.getResolvedOutputSchema());
        };
    }
}
