#!/usr/bin/env bash
# session 6, call 2 (final code): GPU suite; 7B bench (128 + 128 at 1/16/64/256, prefill 512-16,384 at batch 1 and 4, decode
# after 2,048/4,096/8,192-token prompts at 1/8/32) and the transformers SDPA prefill peer in the same call; the tiled decode
# kernel at batch 16 and 256 beside (A/B); Mixtral-8x7B shape (prefill 2,048, decode batch 32 after 2,048)
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 150 .device/bin/gpu-tests .device > $OUT/suite-stdout.txt 2>&1; el "tests rc $?"; rm -rf $OUT/junit
grep -E "tests (successful|failed|found)|✘" $OUT/gpu-tests.log | head -20
grep -E "^eval .*12 documents|mma decode.*chunks of 1 |split attention|head size (264|320)" $OUT/gpu-tests.log | head -20
BENCH_MODELS="mistral-7b mixtral-8x7b" BENCH_VARIANTS= BENCH_BATCHES=1,16,64,256 PREFILL_LENGTHS=512,2048,4096,8192,16384 PREFILL_BATCHES=1,4 \
  LONG_PROMPTS=2048,4096,8192 LONG_BATCHES=1,8,32 PEER_MODES= PEER_PREFILL_LENGTHS=512,2048,4096,8192,16384 PEER_PREFILL_BATCHES=1,4 \
  MIXTRAL_BATCHES=32 MIXTRAL_PREFILL_LENGTHS=2048 MIXTRAL_LONG_PROMPTS=2048 MIXTRAL_LONG_BATCHES=32 \
  JAVA_BENCH_TIMEOUT=190 PEER_TIMEOUT=110 .device/bin/gpu-tests --bench .device > $OUT/bench-all.log 2>&1; el "bench done"
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
timeout 45 "${J[@]}" -Dmistralflink.cuda.mmaDecodeKeys=1000000000 -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "tiled decode" \
  --model mistral-7b --prefill "" --batches 16,256 2>&1 | grep -E "^RESULT" | tee $OUT/variants.log; el "tiled A/B"
rm -f $OUT/peer.json; grep -h -E '^(RESULT|PEER)' $OUT/bench-*.log
