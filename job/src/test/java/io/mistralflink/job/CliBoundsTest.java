package io.mistralflink.job;

import io.mistralflink.job.common.UsageException;
import io.mistralflink.model.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Numeric options out of range, a GPU asked for where there is none, and running out of memory
 * each end with one line that names the option, before anything large is built.
 */
@Timeout(180)
class CliBoundsTest {
    private static final String MODEL = TestModels.model("tiny-mistral").toString();

    private static String refused(String... argv) {
        UsageException e = assertThrows(UsageException.class, () -> Cli.run(argv, new PrintStream(new ByteArrayOutputStream())),
                String.join(" ", argv));
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test void numericOptionsOutOfRangeAreRefusedNamingTheOption() {
        assertEquals("bench: --layers must be between 1 and 32, got 100000", refused("bench", "--random-model", "mistral-7b", "--layers", "100000"));
        assertEquals("bench: --layers must be between 1 and 32, got -3", refused("bench", "--random-model", "mistral-7b", "--layers", "-3"));
        assertEquals("bench: --batch-sizes values must be between 1 and 4096, got 0", refused("bench", "--random-model", "tiny-mistral", "--batch-sizes", "1,0"));
        assertEquals("generate: --temperature must be a finite number >= 0.0, got Infinity",
                refused("generate", "--model", MODEL, "--prompt", "x", "--temperature", "Infinity"));
        assertEquals("generate: --temperature must be a finite number >= 0.0, got NaN",
                refused("generate", "--model", MODEL, "--prompt", "x", "--temperature", "NaN"));
        assertEquals("generate: --top-p must be a finite number in (0, 1.0], got 0", refused("generate", "--model", MODEL, "--prompt", "x", "--top-p", "0"));
        assertEquals("generate: --min-p must be a finite number between 0.0 and 1.0, got 1.5",
                refused("generate", "--model", MODEL, "--prompt", "x", "--min-p", "1.5"));
        assertTrue(refused("generate", "--model", MODEL, "--prompt", "x", "--threads", "100000").startsWith("generate: --threads must be between 1 and "));
        assertTrue(refused("batch", "--model", MODEL, "--input", "in.jsonl", "--output", "out.jsonl", "--threads", "100000")
                .startsWith("batch: --threads must be between 0 and "));
        assertEquals("run: --lanes must be between 1 and 1024, got 0", refused("run", "--model", MODEL, "--lanes", "0"));
        assertEquals("run: --checkpoint-interval-ms must be >= 10", refused("run", "--model", MODEL, "--checkpoint-interval-ms", "5"));
        assertEquals("consume: --count must be >= 0", refused("consume", "--bootstrap-servers", "127.0.0.1:9", "--count", "-1"));
        assertEquals("--kafka-property must be KEY=VALUE, got 'novalue'", refused("consume", "--bootstrap-servers", "127.0.0.1:9", "--kafka-property", "novalue"));
    }

    /** What the parser refuses, before anything is loaded: one line naming the command and the option. */
    @Test void parseErrorsNameTheCommandAndTheOption() {
        assertEquals("generate: --model is required", refused("generate", "--prompt", "x"));
        assertEquals("generate: --model needs a value", refused("generate", "--prompt", "x", "--model"));
        assertEquals("generate: unknown option --bogus", refused("generate", "--model", MODEL, "--prompt", "x", "--bogus", "1"));
        assertEquals("generate: unknown option --bogus", refused("generate", "--model", MODEL, "--prompt", "x", "--bogus=1"));
        assertEquals("generate: unexpected argument 'stray'", refused("generate", "--model", MODEL, "--prompt", "x", "stray"));
        assertEquals("generate: --max-new-tokens must be an integer, got 'ten'", refused("generate", "--model", MODEL, "--prompt", "x", "--max-new-tokens", "ten"));
        assertEquals("batch: --lanes must be an integer, got '2.5'", refused("batch", "--model", MODEL, "--input", "i.jsonl", "--output", "o.jsonl", "--lanes", "2.5"));
        assertEquals("cluster up: --taskmanagers must be an integer, got 'two'", refused("cluster", "up", "--taskmanagers", "two"));
        assertEquals("cluster: give up, down or flink", refused("cluster"));
        assertTrue(refused("frobnicate").startsWith("unknown command 'frobnicate'"));
        assertEquals("sql: give exactly one of -e \"STATEMENTS\" and -f FILE", refused("sql"));
        // a value that starts like a file reference is a value (no @-file expansion), and the last of a repeated option wins
        assertEquals("generate: give exactly one of --prompt and --prompt-file", refused("generate", "--model", MODEL, "--prompt", "@x", "--prompt-file", "f"));
        assertEquals("run: --lanes must be between 1 and 1024, got 0", refused("run", "--model", MODEL, "--lanes", "3", "--lanes", "0"));
    }

    @Test void cudaWithoutAGpuEndsWithTheLineGeneratePrints() {
        String generate;
        try {
            generate = refused("generate", "--model", MODEL, "--prompt", "x", "--device", "cuda");
        } catch (AssertionError opened) {
            return; // this machine has a GPU: nothing to refuse
        }
        // the same line; its cause reads differently once this JVM has failed to load CUDA's library
        String line = "--device cuda: device 'cuda' cannot be opened: ";
        assertTrue(generate.startsWith(line), generate);
        assertTrue(refused("batch", "--model", MODEL, "--input", "in.jsonl", "--output", "out.jsonl", "--device", "cuda").startsWith(line));
        assertTrue(refused("run", "--model", MODEL, "--device", "cuda").startsWith(line));
    }

    /** A JVM of 24 MB asked to benchmark batches of 4096 prompts of 4096 tokens: the last line names the options. */
    @Test void outOfMemoryEndsWithOneLineNamingTheOptions(@TempDir Path dir) throws Exception {
        try (ChildJvm bench = ChildJvm.start(dir, dir.resolve("bench.log"), List.of("-Xmx24m"), Cli.class.getName(),
                List.of("bench", "--random-model", "tiny-mistral", "--layers", "1", "--batch-sizes", "4096", "--prompt-tokens", "4096", "--new-tokens", "1"))) {
            assertTrue(bench.process.waitFor(120, TimeUnit.SECONDS), "bench ended");
            assertEquals(1, bench.process.exitValue(), bench.output());
            List<String> lines = bench.output().lines().filter(l -> !l.startsWith("WARNING")).toList();
            assertEquals("mistral-flink: out of memory (a heap of " + lines.getLast().replaceAll(".*a heap of (\\d+) MB.*", "$1")
                    + " MB): lower --layers 1 or --batch-sizes 4096 or --prompt-tokens 4096 or --new-tokens 1, or give the JVM more (MISTRAL_FLINK_JAVA_OPTS=-Xmx...)",
                    lines.getLast(), bench.output());
            assertFalse(bench.output().contains("\tat "), "no stack trace: " + bench.output());
        }
        assertTrue(Files.isDirectory(dir));
    }
}
