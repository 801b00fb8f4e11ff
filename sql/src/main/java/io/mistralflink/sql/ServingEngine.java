package io.mistralflink.sql;

import io.mistralflink.model.compute.Backend;
import io.mistralflink.model.compute.Backends;
import io.mistralflink.model.compute.KvCache;
import io.mistralflink.model.generate.Generator;
import io.mistralflink.model.generate.Sequence;
import io.mistralflink.model.layers.Shard;
import io.mistralflink.model.tokenizer.Tokenizer;
import io.mistralflink.model.weights.Checkpoint;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One engine for one slot: the rows in flight of a subtask share it. A background thread runs continuous
 * batching over them with the engine's own step planning ({@link Generator#step}: every decoding row's
 * next token first, then prefill chunks of at most W tokens, within the token budget); rows join between
 * steps as they are submitted and leave when they finish, completing their future. So with the async
 * buffer full, the engine runs at the batch size of the buffer.
 */
public final class ServingEngine implements AutoCloseable {
    private record Admission(Sequence sequence, CompletableFuture<Sequence> done) {}

    private final Checkpoint checkpoint;
    private final Backend backend;
    private final Tokenizer tokenizer;
    private final Shard model;
    private final Generator generator;
    private final LinkedBlockingQueue<Admission> admissions = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Throwable failure;

    /** Opens the checkpoint on this slot's device ({@link Backends#forSlot}) and starts the batching thread. */
    public ServingEngine(ModelOptions options, int slot) {
        Path dir = Path.of(options.model());
        int threads = options.threads() > 0 ? options.threads() : Runtime.getRuntime().availableProcessors();
        checkpoint = Checkpoint.open(dir);
        try {
            backend = Backends.open(Backends.forSlot(options.device(), slot), threads);
            tokenizer = Tokenizer.load(dir);
            model = Shard.whole(checkpoint, backend);
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
        generator = new Generator(model, tokenizer, options.maxBatchTokens());
        thread = new Thread(this::loop, "mistral-flink-engine-" + slot);
        thread.setDaemon(true);
        thread.start();
    }

    /** Generates {@code s} to its end, batched with the other rows in flight; the future completes with it. */
    public CompletableFuture<Sequence> submit(Sequence s) {
        CompletableFuture<Sequence> done = new CompletableFuture<>();
        Throwable f = failure;
        if (f != null) done.completeExceptionally(f);
        else if (!running) done.completeExceptionally(new CancellationException("the engine is closed"));
        else admissions.add(new Admission(s, done));
        return done;
    }

    private void loop() {
        List<Sequence> active = new ArrayList<>();
        Map<Sequence, Admission> admitted = new IdentityHashMap<>();
        Map<Sequence, KvCache> caches = new IdentityHashMap<>();
        try {
            while (running) {
                Admission a = active.isEmpty() ? admissions.take() : admissions.poll();
                for (; a != null; a = admissions.poll()) {
                    active.add(a.sequence());
                    admitted.put(a.sequence(), a);
                    caches.put(a.sequence(), model.newCache());
                }
                generator.step(active, caches::get);
                for (var it = active.iterator(); it.hasNext(); ) {
                    Sequence s = it.next();
                    if (!s.finished()) continue;
                    it.remove();
                    caches.remove(s).close();
                    admitted.remove(s).done().complete(s);
                }
            }
        } catch (InterruptedException e) {
            // closed
        } catch (Throwable t) {
            failure = t;
        } finally {
            Throwable why = failure != null ? failure : new CancellationException("the engine is closed");
            admitted.values().forEach(x -> x.done().completeExceptionally(why));
            caches.values().forEach(KvCache::close);
            for (Admission x; (x = admissions.poll()) != null; ) x.done().completeExceptionally(why);
        }
    }

    @Override public void close() throws InterruptedException {
        running = false;
        thread.interrupt();
        thread.join();
        for (Admission x; (x = admissions.poll()) != null; ) x.done().completeExceptionally(new CancellationException("the engine is closed"));
        tokenizer.close();
        backend.close();
        checkpoint.close();
    }
}
