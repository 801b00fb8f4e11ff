package io.mistralflink.operators.pipeline;

import io.mistralflink.model.compute.KvCache;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The serializer of the stages' former {@code kv-caches} keyed state (cache handles, restored as
 * {@link #DROPPED}). Stages now keep their caches outside Flink state ({@link StageFunction}); this
 * class stays so that savepoints and retained checkpoints taken before still restore (their state
 * names this serializer's snapshot; the unclaimed state is then dropped).
 */
public final class KvCacheHandleSerializer extends TypeSerializerSingleton<KvCache> {
    public static final KvCacheHandleSerializer TYPE = new KvCacheHandleSerializer();

    /** A cache that did not survive a restore. */
    public static final KvCache DROPPED = () -> 0;

    @Override public boolean isImmutableType() { return true; }
    @Override public KvCache createInstance() { return DROPPED; }
    @Override public KvCache copy(KvCache from) { return from; }
    @Override public KvCache copy(KvCache from, KvCache reuse) { return from; }
    @Override public int getLength() { return 0; }
    @Override public void serialize(KvCache record, DataOutputView target) {}
    @Override public KvCache deserialize(DataInputView source) { return DROPPED; }
    @Override public KvCache deserialize(KvCache reuse, DataInputView source) { return DROPPED; }
    @Override public void copy(DataInputView source, DataOutputView target) {}

    @Override public TypeSerializerSnapshot<KvCache> snapshotConfiguration() { return new Snapshot(); }

    public static final class Snapshot extends SimpleTypeSerializerSnapshot<KvCache> {
        public Snapshot() { super(() -> TYPE); }
    }
}
