package io.mistralflink.job.batch;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.state.FunctionInitializationContext;

import java.io.Serializable;
import java.util.List;

/**
 * Counts of a bounded run that survive a restore: kept in operator state with each checkpoint and
 * reported as accumulators of the same names. A restored subtask starts from the counts of the
 * checkpoint (the rows after it are processed again, and counted again, from there), so at the end
 * the job's accumulators count every row once, however often the run was interrupted.
 */
final class RestoredCounters implements Serializable {
    private static final long serialVersionUID = 1L;
    private final String stateName;
    private final List<String> names;
    private transient long[] values;
    private transient LongCounter[] accumulators;
    private transient ListState<long[]> state;

    RestoredCounters(String stateName, String... names) {
        this.stateName = stateName;
        this.names = List.of(names);
    }

    /** From {@code CheckpointedFunction.initializeState}: the restored counts (summed, whatever the parallelism was). */
    void initialize(FunctionInitializationContext ctx) throws Exception {
        state = ctx.getOperatorStateStore().getListState(new ListStateDescriptor<>(stateName, long[].class));
        values = new long[names.size()];
        for (long[] v : state.get()) for (int i = 0; i < values.length && i < v.length; i++) values[i] += v[i];
    }

    /** From {@code open}: the accumulators, starting at the restored counts. */
    void open(RuntimeContext ctx) {
        accumulators = new LongCounter[names.size()];
        for (int i = 0; i < accumulators.length; i++) {
            accumulators[i] = new LongCounter(values[i]);
            ctx.addAccumulator(names.get(i), accumulators[i]);
        }
    }

    void add(int counter, long delta) {
        values[counter] += delta;
        accumulators[counter].add(delta);
    }

    /** From {@code CheckpointedFunction.snapshotState}. */
    void snapshot() throws Exception {
        state.update(List.of(values.clone()));
    }
}
