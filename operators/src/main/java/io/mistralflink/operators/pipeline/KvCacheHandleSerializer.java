package io.mistralflink.operators.pipeline;

import io.mistralflink.model.compute.KvCache;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Keyed state holds cache handles, not cache contents: a checkpoint records that a cache existed and
 * a restore yields {@link #DROPPED}. Contents are derived from tokens and rebuilt by re-prefill, which
 * keeps gigabytes of keys and values (possibly on a GPU) out of every checkpoint.
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
