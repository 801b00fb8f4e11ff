package io.mistralflink.operators.pipeline;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Where the stages of R replicas go on a host of G GPUs ({@link PipelineConfig#deviceOf}, what every stage
 * subtask opens): each GPU gets as many stage subtasks as any other (give or take one), as many GPUs are
 * used as there are subtasks (or all of them), and replicas stay whole pipelines: where there are GPUs
 * enough, each replica has its own (P = 1, R = 2: data-parallel, one command), its stages on distinct
 * GPUs; where each GPU must hold two subtasks (P = 2, R = 2 on two GPUs), each replica runs on one GPU, so
 * no replica's step crosses GPUs while another's stays on one.
 */
class PipelinePlacementTest {
    /** gpu[replica][stage] for {@code --device cuda} on a host of {@code gpus} GPUs. */
    private static int[][] place(int stages, int replicas, int gpus) {
        PipelineConfig c = PipelineConfig.builder("unused").stages(stages).parallelism(replicas).device("cuda").build();
        int[][] out = new int[replicas][stages];
        for (int r = 0; r < replicas; r++)
            for (int s = 0; s < stages; s++) {
                String d = c.deviceOf(s, r, () -> gpus);
                assertTrue(d.startsWith("cuda:"), d);
                out[r][s] = Integer.parseInt(d.substring(5));
            }
        return out;
    }

    @Test void replicasSpreadAsWholePipelines() {
        for (int gpus : new int[]{2, 4})
            for (int[] pr : new int[][]{{1, 2}, {2, 1}, {2, 2}}) {
                int p = pr[0], r = pr[1];
                int[][] g = place(p, r, gpus);
                String what = "P=" + p + " R=" + r + " on " + gpus + " GPUs: " + java.util.Arrays.deepToString(g);
                Map<Integer, Integer> load = new HashMap<>();
                for (int[] replica : g) for (int gpu : replica) {
                    assertTrue(gpu >= 0 && gpu < gpus, what);
                    load.merge(gpu, 1, Integer::sum);
                }
                assertEquals(Math.min(p * r, gpus), load.size(), "GPUs used, " + what);
                int most = load.values().stream().max(Integer::compare).orElseThrow();
                int least = load.size() < gpus ? 0 : load.values().stream().min(Integer::compare).orElseThrow();
                assertTrue(most - least <= 1, "balanced, " + what);
                List<Set<Integer>> perReplica = new ArrayList<>();
                for (int[] replica : g) {
                    Set<Integer> own = new HashSet<>();
                    for (int gpu : replica) own.add(gpu);
                    perReplica.add(own);
                }
                if (p * r <= gpus) {
                    for (Set<Integer> own : perReplica) assertEquals(p, own.size(), "a stage per GPU within a replica, " + what);
                    for (int a = 0; a < r; a++)
                        for (int b = a + 1; b < r; b++)
                            assertTrue(java.util.Collections.disjoint(perReplica.get(a), perReplica.get(b)), "replicas on GPUs of their own, " + what);
                } else {
                    for (Set<Integer> own : perReplica) assertEquals(1, own.size(), "each replica on one GPU, " + what);
                }
            }
        // the three shapes the issue names, on two GPUs: data-parallel, a stage per GPU, a replica per GPU
        assertArrayEquals(new int[][]{{0}, {1}}, place(1, 2, 2));
        assertArrayEquals(new int[][]{{0, 1}}, place(2, 1, 2));
        assertArrayEquals(new int[][]{{0, 0}, {1, 1}}, place(2, 2, 2));
        // on four: the two replicas of two stages on GPUs {0, 2} and {1, 3}
        assertArrayEquals(new int[][]{{0, 2}, {1, 3}}, place(2, 2, 4));
    }

    /** A list names the GPUs taken in turn; one GPU holds every subtask; the CPU stays the CPU. */
    @Test void listsAndSingleDevices() {
        PipelineConfig listed = PipelineConfig.builder("unused").stages(1).parallelism(2).device("cuda:1,3").build();
        assertEquals("cuda:1", listed.deviceOf(0, 0, () -> 4));
        assertEquals("cuda:3", listed.deviceOf(0, 1, () -> 4));
        PipelineConfig one = PipelineConfig.builder("unused").stages(2).parallelism(2).device("cuda:0").build();
        PipelineConfig cpu = PipelineConfig.builder("unused").stages(2).parallelism(2).device("cpu").build();
        for (int s = 0; s < 2; s++)
            for (int r = 0; r < 2; r++) {
                assertEquals("cuda:0", one.deviceOf(s, r, () -> 4));
                assertEquals("cpu", cpu.deviceOf(s, r, () -> 4));
            }
    }
}
