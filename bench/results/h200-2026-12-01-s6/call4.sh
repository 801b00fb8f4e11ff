#!/usr/bin/env bash
# session 6, call 4: the merged main (typed step + min_p, tensor-core decode, CPU blocked attention + oneDNN, batch/rel): GPU suite + a short bench
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 200 .device/bin/gpu-tests .device > $OUT/suite-stdout.txt 2>&1; el "tests rc $?"; rm -rf $OUT/junit
grep -E "tests (successful|failed|found)|✘" $OUT/gpu-tests.log | head -20
grep -E "^eval .*12 documents" $OUT/gpu-tests.log
BENCH_MODELS=mistral-7b BENCH_VARIANTS= BENCH_BATCHES=1,64 PREFILL_LENGTHS=2048 PREFILL_BATCHES=1 LONG_PROMPTS=4096,8192 LONG_BATCHES=1,8,32 \
  PEER_MODES= PEER_PREFILL_LENGTHS= JAVA_BENCH_TIMEOUT=150 .device/bin/gpu-tests --bench .device > $OUT/bench-all.log 2>&1; el "bench done"
grep -h -E '^RESULT' $OUT/bench-java.log
