#!/usr/bin/env bash
# session 5, call 5: the merged main (CPU GEMM, SQL's Generator.step, batch and Kafka changes): GPU suite + a short bench
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 200 .device/bin/gpu-tests .device > $OUT/suite-stdout.txt 2>&1; el "tests rc $?"; rm -rf $OUT/junit
grep -E "tests (successful|failed|found)|✘" $OUT/gpu-tests.log | head -20
BENCH_MODELS=mistral-7b BENCH_VARIANTS= BENCH_BATCHES=1,64 PREFILL_LENGTHS=512,2048,8192 PREFILL_BATCHES=1 \
  LONG_PROMPTS=4096,8192 LONG_BATCHES=1,8 PEER_MODES= PEER_PREFILL_LENGTHS= JAVA_BENCH_TIMEOUT=150 PEER_TIMEOUT=5 \
  .device/bin/gpu-tests --bench .device > $OUT/bench-all.log 2>&1; el "bench done"
grep -h -E '^(RESULT|PEER)' $OUT/bench-*.log
