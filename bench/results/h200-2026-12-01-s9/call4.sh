#!/usr/bin/env bash
# session 9, call 4 (round 2, issue 11). Bundle: bin/gpu-tests --pack from s9-gpu (foldSplits, off by default). In order:
# 1. the SDPA peer and the engine in the same call: bin/gpu-tests --bench, prefill batch 1 at 512 / 2,048 / 4,096 / 8,192 / 16,384
#    for both (the engine: separate JVM, graphs on, best of 2; the peer: bench/hf_peer.py, one forward)
# 2. foldSplits's GPU tests with the knob ON (the new foldSplitsMatchesTheUsualPathAndCpu toggles it itself; the matmul / q-k-v op
#    tests, whose split-K outputs are read through sum_splits on a plain read)
# 3. decode after 8,192-token prompts at batch 8 / 32 and after 4,096 at batch 1, foldSplits off then on, separate JVMs, graphs on
#    (the bandwidth bound; a hash of the decoded tokens: equal sums, equal tokens)
# 4. (time left) the same pair again with one eager decode step's profile by kernel at 8,192:8; the whole GPU suite with the knob on
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a $OUT/timeline.txt; }
left() { echo $(( 400 - ($(date +%s) - t0) )); }
BENCH_MODELS=mistral-7b BENCH_VARIANTS= BENCH_BATCHES= PREFILL_LENGTHS=512,2048,4096,8192,16384 PREFILL_BATCHES=1 LONG_PROMPTS= \
  PEER_MODES= PEER_PREFILL_LENGTHS=512,2048,4096,8192,16384 PEER_PREFILL_BATCHES=1 JAVA_BENCH_TIMEOUT=80 PEER_TIMEOUT=110 \
  timeout 200 .device/bin/gpu-tests --bench .device > /dev/null 2>&1; el "bench + peer rc $?"
rm -f $OUT/peer.json; grep -h -E '^(RESULT|PEER)' $OUT/bench-java.log $OUT/bench-peer.log
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
T=io.mistralflink.model.compute.cuda.CudaEngineTest
MISTRALFLINK_GPU_TESTS=1 timeout 60 "${J[@]}" -Dmistralflink.cuda.foldSplits=true -jar .device/junit-platform-console-standalone-*.jar execute \
  --class-path "$CP" --select-method "$T#foldSplitsMatchesTheUsualPathAndCpu" --select-method "$T#matmulMatchesCpuForEveryPath(int)" \
  --select-method "$T#fusedProjectionsMatchCpu(int)" --select-method "$T#rowSwiGluAndDeferredSplitMatchTheUsualPath" \
  --details=tree --disable-banner > $OUT/fold-tests.log 2>&1; el "fold tests rc $?"
grep -E "tests (successful|failed|found)|✘|^folded" $OUT/fold-tests.log | head -20
B=io.mistralflink.model.compute.cuda.CudaBench
dec() { # label timeout -D... [-- extra CudaBench args]
  local label=$1 t=$2; shift 2; local d=(); while [ $# -gt 0 ] && [ "$1" != -- ]; do d+=("$1"); shift; done; [ $# -gt 0 ] && shift
  timeout $t "${J[@]}" "${d[@]}" -cp "$CP" $B --label "$label" --model mistral-7b --batches "" --prefill "" --long-prompts "$P" --long-batches "$LB" "$@" 2>&1 \
    | grep --line-buffered -E "^(RESULT|PROFILE)" | tee -a $OUT/decode.log | grep -v PROFILE; el "$label"
}
for pass in 1 2; do
  P=8192 LB=8,32; ex=(); [ $pass = 2 ] && ex=(-- --profile-decode 8192:8)
  for k in false true; do
    t=$(( $(left) - 5 )); [ $t -gt 75 ] && t=75; [ $t -lt 20 ] && break 2
    dec "foldSplits=$k pass $pass" $t -Dmistralflink.cuda.foldSplits=$k "${ex[@]}"
  done
  P=4096 LB=1
  for k in false true; do t=$(( $(left) - 5 )); [ $t -gt 40 ] && t=40; [ $t -lt 15 ] && break 2; dec "foldSplits=$k pass $pass" $t -Dmistralflink.cuda.foldSplits=$k; done
  [ $pass = 1 ] && { t=$(( $(left) - 95 )); [ $t -gt 120 ] && t=120; [ $t -ge 60 ] && { MISTRALFLINK_GPU_TESTS=1 timeout $t "${J[@]}" -Dmistralflink.cuda.foldSplits=true \
    -jar .device/junit-platform-console-standalone-*.jar execute --class-path "$CP" --select-class $T --details=tree --disable-banner > $OUT/suite.log 2>&1; el "suite with foldSplits rc $?";
    grep -E "tests (successful|failed|found)|✘|^eval .*12 documents" $OUT/suite.log | head -20; }; }
done
el "done"
