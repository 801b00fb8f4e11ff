/**
 * The feedback edge from the pipeline's tail (sampler) to its head (scheduler), done in the JVM as
 * Apache Flink Stateful Functions does it, because Flink 2 has no iterations.
 *
 * <p>Subtask i of the head and subtask i of the tail find each other through the static
 * {@link io.mistralflink.operators.feedback.FeedbackBroker} under the same
 * {@link io.mistralflink.operators.feedback.FeedbackKey} (edge, job id, subtask index, attempt number).
 * That only works when both run in one JVM, so:
 * <ul>
 *   <li>head and tail have equal parallelism and share one co-location group (and so one slot sharing
 *       group): {@link io.mistralflink.operators.feedback.FeedbackEdge#colocate};
 *   <li>the job runs with pipelined exchanges (runtime mode STREAMING, also for bounded input): under
 *       BATCH, blocking exchanges cut head and tail into regions that neither run together nor restart
 *       together, and the attempt numbers no longer pair up;
 *   <li>these classes are loaded once per job and TaskManager (user-code class loader or lib/), never
 *       twice by different loaders, or the two sides see two brokers.
 * </ul>
 * Head and tail each take the channel in {@code open()} and call {@code FeedbackBroker.remove} in
 * {@code close()}. A restart gives both a new attempt number, hence a fresh, empty channel: the
 * scheduler re-sends the steps that were in flight (tokens are the truth and caches are derived: docs/pipeline.md, "Invariants and recovery").
 */
package io.mistralflink.operators.feedback;
