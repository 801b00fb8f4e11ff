package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A source that reads only on its {@link AdmissionGate}'s credit: its reader reports nothing available
 * once its credit is spent, and the next grant as its availability; its enumerator ({@link
 * GatedEnumerator}) grants what the schedulers' waiting rooms have free. Splits, enumerator
 * checkpoints and reader state are the wrapped source's, so a checkpoint restores into either.
 */
final class GatedSource<T, S extends SourceSplit, E> implements Source<T, S, E>, ResultTypeQueryable<T> {
    private static final long serialVersionUID = 1L;
    private final Source<T, S, E> source;
    private final AdmissionGate gate;

    GatedSource(Source<T, S, E> source, AdmissionGate gate) {
        this.source = source;
        this.gate = gate;
    }

    @SuppressWarnings("unchecked")
    @Override public TypeInformation<T> getProducedType() {
        if (source instanceof ResultTypeQueryable<?> q) return (TypeInformation<T>) q.getProducedType();
        throw new IllegalStateException(source.getClass().getName() + " does not say what it produces");
    }

    @Override public Boundedness getBoundedness() { return source.getBoundedness(); }
    @Override public SplitEnumerator<S, E> createEnumerator(SplitEnumeratorContext<S> ctx) throws Exception {
        return new GatedEnumerator<>(source.createEnumerator(ctx), ctx, gate);
    }
    @Override public SplitEnumerator<S, E> restoreEnumerator(SplitEnumeratorContext<S> ctx, E checkpoint) throws Exception {
        return new GatedEnumerator<>(source.restoreEnumerator(ctx, checkpoint), ctx, gate);
    }
    @Override public SimpleVersionedSerializer<S> getSplitSerializer() { return source.getSplitSerializer(); }
    @Override public SimpleVersionedSerializer<E> getEnumeratorCheckpointSerializer() { return source.getEnumeratorCheckpointSerializer(); }
    @Override public SourceReader<T, S> createReader(SourceReaderContext ctx) throws Exception { return new Reader<>(source.createReader(ctx), ctx); }

    /**
     * Reads while it has credit ({@link CreditEvents}), counting the records the wrapped reader emits;
     * asks its enumerator for more as it starts and whenever its credit falls to half the last grant,
     * and again once it is spent (so the enumerator knows it holds none).
     * Everything runs in the source task's mailbox thread: polls, availability and the enumerator's
     * events alike.
     */
    static final class Reader<T, S extends SourceSplit> implements SourceReader<T, S> {
        private final SourceReader<T, S> reader;
        private final SourceReaderContext context;
        private long credit;
        /** Half the last grant: below it the reader asks for the next. */
        private long askBelow = 1;
        /** Records emitted since it started. */
        private long spent;
        /** Whether a request is unanswered, and {@link #spent} when it was sent. */
        private boolean asked;
        private long askedAt;
        private CompletableFuture<Void> granted = new CompletableFuture<>();
        private ReaderOutput<T> seen;
        private ReaderOutput<T> counted;

        Reader(SourceReader<T, S> reader, SourceReaderContext context) {
            this.reader = reader;
            this.context = context;
        }

        /** A KafkaSource reader emits at most one record per call: a reader overdraws by one at most. */
        @Override public InputStatus pollNext(ReaderOutput<T> output) throws Exception {
            if (credit <= 0) {
                ask();
                return InputStatus.NOTHING_AVAILABLE;
            }
            if (output != seen) {
                seen = output;
                counted = new CountingOutput<>(output, this);
            }
            InputStatus status = reader.pollNext(counted);
            if (credit < askBelow) ask();
            return status;
        }

        @Override public CompletableFuture<Void> isAvailable() { return credit > 0 ? reader.isAvailable() : granted; }

        /** Credit is this wrapper's; other events are the wrapped reader's. */
        @Override public void handleSourceEvents(SourceEvent event) {
            if (!(event instanceof CreditEvents.Grant grant)) {
                reader.handleSourceEvents(event);
                return;
            }
            credit += grant.records();
            askBelow = Math.max(1, grant.records() / 2);
            asked = false;
            if (credit > 0) {
                CompletableFuture<Void> g = granted;
                granted = new CompletableFuture<>();
                g.complete(null);
            }
        }

        /** Once at half the credit, once more when it is spent (if unanswered still and read on since). */
        private void ask() {
            if (asked && (credit > 0 || askedAt == spent)) return;
            asked = true;
            askedAt = spent;
            context.sendSourceEventToCoordinator(new CreditEvents.Request(spent));
        }

        void spent() {
            credit--;
            spent++;
        }

        @Override public void start() {
            reader.start();
            ask();
        }
        @Override public List<S> snapshotState(long checkpointId) { return reader.snapshotState(checkpointId); }
        @Override public void addSplits(List<S> splits) { reader.addSplits(splits); }
        @Override public void notifyNoMoreSplits() { reader.notifyNoMoreSplits(); }
        @Override public void notifyCheckpointComplete(long checkpointId) throws Exception { reader.notifyCheckpointComplete(checkpointId); }
        @Override public void notifyCheckpointAborted(long checkpointId) throws Exception { reader.notifyCheckpointAborted(checkpointId); }
        @Override public void pauseOrResumeSplits(Collection<String> pause, Collection<String> resume) { reader.pauseOrResumeSplits(pause, resume); }
        @Override public void close() throws Exception { reader.close(); }
    }

    /** An output whose every record spends one of the reader's credit. */
    private static class CountingSplitOutput<T> implements SourceOutput<T> {
        final Reader<T, ?> reader;
        private final SourceOutput<T> output;

        CountingSplitOutput(SourceOutput<T> output, Reader<T, ?> reader) {
            this.output = output;
            this.reader = reader;
        }

        @Override public void collect(T record) {
            reader.spent();
            output.collect(record);
        }

        @Override public void collect(T record, long timestamp) {
            reader.spent();
            output.collect(record, timestamp);
        }

        @Override public void emitWatermark(Watermark watermark) { output.emitWatermark(watermark); }
        @Override public void markIdle() { output.markIdle(); }
        @Override public void markActive() { output.markActive(); }
    }

    /** The reader's output, counted as its per-split outputs are. */
    private static final class CountingOutput<T> extends CountingSplitOutput<T> implements ReaderOutput<T> {
        private final ReaderOutput<T> output;

        CountingOutput(ReaderOutput<T> output, Reader<T, ?> reader) {
            super(output, reader);
            this.output = output;
        }

        @Override public SourceOutput<T> createOutputForSplit(String splitId) { return new CountingSplitOutput<>(output.createOutputForSplit(splitId), reader); }
        @Override public void releaseOutputForSplit(String splitId) { output.releaseOutputForSplit(splitId); }
    }
}
