/**
 * Kafka I/O of the job.
 *
 * <ul>
 *   <li>{@link io.mistralflink.job.kafka.EmbeddedKafka}: in-process single-node KRaft broker (default run, tests).</li>
 *   <li>{@link io.mistralflink.job.kafka.KafkaIo}: the prompts source (raw records, read_committed) and the
 *       exactly-once completions / dead-letters sinks.</li>
 *   <li>{@link io.mistralflink.job.kafka.DecodeRequests} + {@link io.mistralflink.job.kafka.RequestValidator}:
 *       raw bytes to valid {@code GenerationRequest}s; everything else to the
 *       {@link io.mistralflink.job.kafka.DecodeRequests#DEAD_LETTERS} side output.</li>
 *   <li>{@link io.mistralflink.job.kafka.Produce} / {@link io.mistralflink.job.kafka.Consume}: JSONL in, JSON lines out (CLI).</li>
 * </ul>
 *
 * <p>Wiring, as in {@code KafkaPipelineTest}:
 * <pre>{@code
 * KafkaIo io = new KafkaIo(bootstrap, KafkaTopics.defaults(), "mistral-flink");
 * DataStream<RawRecord> raw = env.fromSource(io.promptSource("mistral-flink"), WatermarkStrategy.noWatermarks(), "prompts");
 * SingleOutputStreamOperator<GenerationRequest> requests = DecodeRequests.apply(raw, validator);
 * requests.getSideOutput(DecodeRequests.DEAD_LETTERS).sinkTo(io.deadLetterSink());
 * completions.sinkTo(io.completionSink());   // needs checkpointing for the transactions to commit
 * }</pre>
 */
package io.mistralflink.job.kafka;
