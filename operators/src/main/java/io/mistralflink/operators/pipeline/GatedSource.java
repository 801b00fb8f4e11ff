package io.mistralflink.operators.pipeline;

import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceEvent;
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
 * A source that reads only while its {@link AdmissionGate} is open: its reader reports nothing
 * available, and the gate's opening as its availability, while a scheduler's waiting room is full. The
 * readers learn the gate's state from their enumerator ({@link GatedEnumerator}, {@link GateEvent});
 * until told, a reader reads. Splits, enumerator checkpoints and reader state are the wrapped source's,
 * so a checkpoint restores into either.
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
    @Override public SourceReader<T, S> createReader(SourceReaderContext ctx) throws Exception { return new Reader<>(source.createReader(ctx)); }

    /** Everything runs in the source task's mailbox thread: polls, availability and the enumerator's events alike. */
    static final class Reader<T, S extends SourceSplit> implements SourceReader<T, S> {
        private final SourceReader<T, S> reader;
        private boolean open = true;
        private CompletableFuture<Void> opened = CompletableFuture.completedFuture(null);

        Reader(SourceReader<T, S> reader) { this.reader = reader; }

        /** At most one record per call (a KafkaSource reader emits one): the gate is checked before each. */
        @Override public InputStatus pollNext(ReaderOutput<T> output) throws Exception {
            return open ? reader.pollNext(output) : InputStatus.NOTHING_AVAILABLE;
        }

        @Override public CompletableFuture<Void> isAvailable() { return open ? reader.isAvailable() : opened; }

        /** The gate's state is this wrapper's; other events are the wrapped reader's. */
        @Override public void handleSourceEvents(SourceEvent event) {
            if (!(event instanceof GateEvent e)) {
                reader.handleSourceEvents(event);
            } else if (e.open() && !open) {
                open = true;
                opened.complete(null);
            } else if (!e.open() && open) {
                open = false;
                opened = new CompletableFuture<>();
            }
        }

        @Override public void start() { reader.start(); }
        @Override public List<S> snapshotState(long checkpointId) { return reader.snapshotState(checkpointId); }
        @Override public void addSplits(List<S> splits) { reader.addSplits(splits); }
        @Override public void notifyNoMoreSplits() { reader.notifyNoMoreSplits(); }
        @Override public void notifyCheckpointComplete(long checkpointId) throws Exception { reader.notifyCheckpointComplete(checkpointId); }
        @Override public void notifyCheckpointAborted(long checkpointId) throws Exception { reader.notifyCheckpointAborted(checkpointId); }
        @Override public void pauseOrResumeSplits(Collection<String> pause, Collection<String> resume) { reader.pauseOrResumeSplits(pause, resume); }
        @Override public void close() throws Exception { reader.close(); }
    }
}
