package io.mistralflink.operators.pipeline;

import org.apache.flink.api.common.state.ListState;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The scheduler's side of the {@link FailureLog}: what the log says of each request (read when the
 * scheduler starts), the notes of new failures, and the logged requests answered or dead-lettered
 * since, which the log forgets once those answers are committed: at the completion of the first
 * checkpoint after them, or at a restore from it (its completion may never have been notified).
 */
final class LoggedRequests {
    /** The failure log, or null (a job without one). */
    private final FailureLog log;
    private final Map<String, FailureLog.Record> records;
    /** Logged requests answered since the last snapshot. */
    private Set<String> answered = new HashSet<>();
    /** Per checkpoint, the logged requests answered before it and not yet forgotten. */
    private final TreeMap<Long, Set<String>> forgetAt = new TreeMap<>();
    /** forgetAt's ids, in each checkpoint (operator state). */
    private final ListState<String> inCheckpoint;

    /** {@code restored}: the operator state holds the ids of the checkpoint restored from, to be forgotten now. */
    LoggedRequests(FailureLog log, ListState<String> inCheckpoint, boolean restored) throws Exception {
        this.log = log;
        this.inCheckpoint = inCheckpoint;
        if (log != null && restored) {
            Set<String> committed = new HashSet<>();
            inCheckpoint.get().forEach(committed::add);
            log.forget(committed);
        }
        records = log == null ? new HashMap<>() : log.read();
    }

    /** Why a culprit (a request that failed the job too often) is dead-lettered; null for any other request. */
    String culprit(String requestId) {
        FailureLog.Record r = records.get(requestId);
        return r != null && r.culprit() ? r.reason() : null;
    }

    boolean suspect(String requestId) {
        FailureLog.Record r = records.get(requestId);
        return r != null && r.suspect();
    }

    /** These requests were in what just failed the job. */
    void failed(List<String> requestIds, Throwable cause) {
        if (log != null) log.record(requestIds, cause);
    }

    /** A request was answered or dead-lettered: if logged, it is served again at once, and dropped from the log once that is committed. */
    void answered(String requestId) {
        if (records.remove(requestId) != null) answered.add(requestId);
    }

    void snapshot(long checkpointId) throws Exception {
        if (!answered.isEmpty()) {
            forgetAt.put(checkpointId, answered);
            answered = new HashSet<>();
        }
        List<String> pending = new ArrayList<>();
        forgetAt.values().forEach(pending::addAll);
        inCheckpoint.update(pending);
    }

    /** The answers before this checkpoint are committed: the log forgets their requests. */
    void committed(long checkpointId) throws Exception {
        var done = forgetAt.headMap(checkpointId, true);
        if (done.isEmpty() || log == null) return;
        Set<String> ids = new HashSet<>();
        done.values().forEach(ids::addAll);
        log.forget(ids);
        done.clear();
    }
}
