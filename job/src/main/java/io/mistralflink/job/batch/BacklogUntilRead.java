package io.mistralflink.job.batch;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.ReaderInfo;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.connector.source.SplitsAssignment;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.metrics.groups.SplitEnumeratorMetricGroup;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.BiConsumer;

/**
 * A bounded source that reports that it is processing backlog (FLIP-309) until every reader has been
 * told that no split is left, i.e. until the input is read. While it is, checkpoints come every
 * {@code execution.checkpointing.interval-during-backlog} (the run's {@code --checkpoint-interval-ms});
 * after, every {@code execution.checkpointing.interval}: the requests still in flight are answered and
 * the final checkpoint, the one that commits the last part files and lets the job finish, comes that
 * much sooner after the last answer than a whole checkpoint interval would allow.
 */
final class BacklogUntilRead<T, S extends SourceSplit, E> implements Source<T, S, E>, ResultTypeQueryable<T> {
    private static final long serialVersionUID = 1L;
    private final Source<T, S, E> source;

    BacklogUntilRead(Source<T, S, E> source) { this.source = source; }

    @Override @SuppressWarnings("unchecked")
    public TypeInformation<T> getProducedType() { return ((ResultTypeQueryable<T>) source).getProducedType(); }

    @Override public Boundedness getBoundedness() { return source.getBoundedness(); }

    @Override public SourceReader<T, S> createReader(SourceReaderContext context) throws Exception { return source.createReader(context); }

    @Override public SplitEnumerator<S, E> createEnumerator(SplitEnumeratorContext<S> context) throws Exception {
        return source.createEnumerator(new Context<>(context));
    }

    @Override public SplitEnumerator<S, E> restoreEnumerator(SplitEnumeratorContext<S> context, E checkpoint) throws Exception {
        return source.restoreEnumerator(new Context<>(context), checkpoint);
    }

    @Override public SimpleVersionedSerializer<S> getSplitSerializer() { return source.getSplitSerializer(); }

    @Override public SimpleVersionedSerializer<E> getEnumeratorCheckpointSerializer() { return source.getEnumeratorCheckpointSerializer(); }

    /** The enumerator's context: backlog from the start, no longer once every reader had its "no more splits". */
    private static final class Context<S extends SourceSplit> implements SplitEnumeratorContext<S> {
        private final SplitEnumeratorContext<S> context;
        private final Set<Integer> read = new HashSet<>();

        Context(SplitEnumeratorContext<S> context) {
            this.context = context;
            context.setIsProcessingBacklog(true);
        }

        @Override public void signalNoMoreSplits(int subtask) {
            context.signalNoMoreSplits(subtask);
            if (read.add(subtask) && read.size() >= context.currentParallelism()) context.setIsProcessingBacklog(false);
        }

        @Override public SplitEnumeratorMetricGroup metricGroup() { return context.metricGroup(); }

        @Override public void sendEventToSourceReader(int subtask, SourceEvent event) { context.sendEventToSourceReader(subtask, event); }

        @Override public void sendEventToSourceReader(int subtask, int attempt, SourceEvent event) { context.sendEventToSourceReader(subtask, attempt, event); }

        @Override public int currentParallelism() { return context.currentParallelism(); }

        @Override public Map<Integer, ReaderInfo> registeredReaders() { return context.registeredReaders(); }

        @Override public Map<Integer, Map<Integer, ReaderInfo>> registeredReadersOfAttempts() { return context.registeredReadersOfAttempts(); }

        @Override public void assignSplits(SplitsAssignment<S> assignment) { context.assignSplits(assignment); }

        @Override public void assignSplit(S split, int subtask) { context.assignSplit(split, subtask); }

        @Override public <T> void callAsync(Callable<T> callable, BiConsumer<T, Throwable> handler) { context.callAsync(callable, handler); }

        @Override public <T> void callAsync(Callable<T> callable, BiConsumer<T, Throwable> handler, long initialDelay, long period) {
            context.callAsync(callable, handler, initialDelay, period);
        }

        @Override public void runInCoordinatorThread(Runnable runnable) { context.runInCoordinatorThread(runnable); }

        @Override public void setIsProcessingBacklog(boolean backlog) { context.setIsProcessingBacklog(backlog); }
    }
}
