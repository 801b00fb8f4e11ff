#!/usr/bin/env bash
# session 5 call 2: GPU suite, 7B bench + peer, variants (A/B in separate JVMs), Mixtral shape
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 170 .device/bin/gpu-tests .device > /dev/null 2>&1; el "tests rc $?"; rm -rf $OUT/junit
grep -E "tests (successful|failed)|✘" $OUT/gpu-tests.log | head
grep -E "^prefill attention|chunks of (7|1) vs" $OUT/gpu-tests.log | head -40
BENCH_MODELS=mistral-7b BENCH_VARIANTS= BENCH_BATCHES=1,64 PREFILL_LENGTHS=512,2048,4096,8192,16384 PREFILL_BATCHES=1,4 \
  LONG_PROMPTS=2048,4096,8192,16384 LONG_BATCHES=1,8,32 PEER_MODES= PEER_PREFILL_LENGTHS=512,2048,4096,8192,16384 PEER_PREFILL_BATCHES=1,4 \
  JAVA_BENCH_TIMEOUT=170 PEER_TIMEOUT=110 .device/bin/gpu-tests --bench .device > $OUT/bench-all.log 2>&1; el "bench done"
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
v() { local label=$1 to=$2; shift 2; local jo=(); while [ "$1" != -- ]; do jo+=("$1"); shift; done; shift
  timeout $to "${J[@]}" "${jo[@]}" -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "$label" "$@" 2>&1 | grep -E "^RESULT" | tee -a $OUT/variants.log; el "$label"; }
v "hd128 two blocks an SM" 60 -Dmistralflink.cuda.prefillVariant=_2 -- --model mistral-7b --batches "" --prefill 2048,8192 --prefill-batches 1
v "splits 64, 16 blocks/SM" 80 -Dmistralflink.cuda.attentionBlocksPerSm=16 -Dmistralflink.cuda.attentionMaxSplits=64 -- --model mistral-7b --batches 1,64 --prefill "" --long-prompts 4096,8192 --long-batches 1,8,32
v "splits 64, 32 blocks/SM" 80 -Dmistralflink.cuda.attentionBlocksPerSm=32 -Dmistralflink.cuda.attentionMaxSplits=64 -- --model mistral-7b --batches 1,64 --prefill "" --long-prompts 4096,8192 --long-batches 1,8,32
v "mixtral" 100 -- --model mixtral-8x7b --batches 32 --prefill 2048 --prefill-batches 1 --long-prompts 2048 --long-batches 32
PYTHONUNBUFFERED=1 timeout 100 python3 .device/bench/hf_peer.py --model mixtral-8x7b --modes "" --prefill-lengths 2048 --prefill-batches 1 2>&1 | grep -v Warning | tee $OUT/peer-mixtral.log; el "mixtral peer"
rm -f $OUT/peer.json; grep -h -E '^(RESULT|PEER)' $OUT/bench-*.log
