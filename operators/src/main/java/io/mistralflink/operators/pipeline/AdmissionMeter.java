package io.mistralflink.operators.pipeline;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEventGateway;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.CoordinatedOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Passes requests on toward the schedulers, counting them for its {@link AdmissionGate}'s ledger
 * ({@link CountCoordinator}, side {@link CountCoordinator.Side#PASSED}): chained in the source's task
 * after the records are decoded and checked, it counts what the schedulers will receive, not what was
 * dead-lettered on the way. It tells every {@link AdmissionGate#reportEvery} requests, and at each
 * checkpoint what is left.
 */
final class AdmissionMeter<T> extends AbstractStreamOperator<T> implements OneInputStreamOperator<T, T> {
    private final transient OperatorEventGateway ledger;
    private final int every;
    private long passed, told;

    private AdmissionMeter(AdmissionGate gate, StreamOperatorParameters<T> parameters) {
        super(parameters);
        this.ledger = parameters.getOperatorEventDispatcher().getOperatorEventGateway(parameters.getStreamConfig().getOperatorID());
        this.every = gate.reportEvery();
    }

    @Override public void processElement(StreamRecord<T> record) {
        output.collect(record);
        if (++passed - told >= every) tell();
    }

    @Override public void prepareSnapshotPreBarrier(long checkpointId) {
        if (passed != told) tell();
    }

    private void tell() {
        told = passed;
        ledger.sendEventToCoordinator(new CountEvent(passed));
    }

    /** Makes the meter and its coordinator. */
    static final class Factory<T> extends AbstractStreamOperatorFactory<T>
            implements OneInputStreamOperatorFactory<T, T>, CoordinatedOperatorFactory<T> {
        private final AdmissionGate gate;

        Factory(AdmissionGate gate) { this.gate = gate; }

        @Override @SuppressWarnings("unchecked")
        public <O extends StreamOperator<T>> O createStreamOperator(StreamOperatorParameters<T> parameters) {
            return (O) new AdmissionMeter<>(gate, parameters);
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        @Override public Class<? extends StreamOperator<?>> getStreamOperatorClass(ClassLoader classLoader) { return (Class) AdmissionMeter.class; }

        @Override public OperatorCoordinator.Provider getCoordinatorProvider(String operatorName, OperatorID operatorID) {
            return new CountCoordinator.Provider(operatorID, gate, CountCoordinator.Side.PASSED);
        }
    }
}
