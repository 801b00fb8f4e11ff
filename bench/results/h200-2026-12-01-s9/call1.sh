#!/usr/bin/env bash
# session 9, call 1 (issue 11; the bundle: bin/gpu-tests --pack from s9-gpu, nothing new in the engine; CudaBench --profile-decode added).
# In order of importance:
# 1. the GPU suite (CudaEngineTest) with the defaults (fusedPrefill + rowSwiGlu on): pass/fail, the Brown perplexities
# 2. CudaBench --profile-prefill 2048,8192: per-kernel device time of one eager prefill, the default (fused) and lean16 (both bf16 knobs)
# 3. decode after 8,192-token prompts at batch 8 / 32 with the bandwidth bound (graphs, as by default); then one eager step's
#    per-kernel device time at batch 8 / 32 (--profile-decode)
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a $OUT/timeline.txt; }
tar xJf .device/jre.tar.xz -C /tmp && mkdir -p /tmp/gpu-lib && tar xJf .device/lib.tar.xz -C /tmp/gpu-lib; el "unpacked"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv > $OUT/gpu.txt 2>&1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
B=io.mistralflink.model.compute.cuda.CudaBench
MISTRALFLINK_GPU_TESTS=1 timeout 170 "${J[@]}" -jar .device/junit-platform-console-standalone-*.jar execute \
  --class-path "$CP" --select-class io.mistralflink.model.compute.cuda.CudaEngineTest --details=tree --disable-banner > $OUT/suite.log 2>&1
el "suite rc $?"
grep -E "tests (successful|failed|found)|✘|^eval .*12 documents|fused prefill" $OUT/suite.log | head -30
timeout 80 "${J[@]}" -cp "$CP" $B --model mistral-7b --batches "" --prefill "" --ab-variants fused,lean16 --profile-prefill 2048,8192 > $OUT/profile-prefill.log 2>&1
el "profile prefill rc $?"
grep -E "^PROFILE" $OUT/profile-prefill.log | head -60
timeout 120 "${J[@]}" -cp "$CP" $B --model mistral-7b --batches "" --prefill "" --long-prompts 8192 --long-batches 8,32 \
  --profile-decode 8192:8,8192:32 > $OUT/decode.log 2>&1
el "decode rc $?"
grep -E "^RESULT|^PROFILE" $OUT/decode.log | head -80
