#!/usr/bin/env bash
# session 8, the one call (issue 11: prefill's non-GEMM time). Bundle: bin/gpu-tests --pack (s8-gpu). In order of importance:
# 1. prefill A/B in one JVM, eager, interleaved (CudaBench --ab-prefill): base (knobs off) / rows (rowSwiGlu) / qkv (fusedPrefill) /
#    fused (both) / fused16 (both + bf16SwiGlu) / lean, lean16 (fused, fused16 + bf16MatmulInputs) at 512, 2,048 and 8,192 tokens, best of 3; then each variant's per-kernel device time at 2,048 and 8,192
# 2. the GPU suite (CudaEngineTest, 53 tests; bf16MatmulInputs on only in its own test cases) with -Dmistralflink.cuda.fusedPrefill=true -Dmistralflink.cuda.rowSwiGlu=true
# 3. session 7's method, separate JVMs (new knobs on, then off): prefill 2,048 / 8,192 at batch 1 (graphs as by default), 128 + 128
#    decode at batch 1 / 64, decode after 8,192-token prompts at batch 8 / 32 with the bandwidth bound
# 4. (time left) decode after 8,192 at batch 8 / 32 with -Dmistralflink.cuda.splitKWaves=2, then 4
# The SDPA peer is not rerun (session 7's figures stand: same machine kind).
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a $OUT/timeline.txt; }
left() { echo $(( 192 - ($(date +%s) - t0) )); }
tar xJf .device/jre.tar.xz -C /tmp && mkdir -p /tmp/gpu-lib && tar xJf .device/lib.tar.xz -C /tmp/gpu-lib; el "unpacked"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv > $OUT/gpu.txt 2>&1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
B=io.mistralflink.model.compute.cuda.CudaBench
NEW=(-Dmistralflink.cuda.fusedPrefill=true -Dmistralflink.cuda.rowSwiGlu=true)
timeout 45 "${J[@]}" -cp "$CP" $B --model mistral-7b --batches "" --prefill "" --ab-prefill 512,2048,8192 \
  --ab-variants base,rows,qkv,fused,fused16,lean,lean16 --ab-reps 3 --profile-prefill 2048,8192 > $OUT/ab.log 2>&1; el "A/B rc $?"
grep -E "^RESULT|variant|PROFILE span" $OUT/ab.log
MISTRALFLINK_GPU_TESTS=1 timeout $(( $(left) - 50 )) "${J[@]}" "${NEW[@]}" -jar .device/junit-platform-console-standalone-*.jar execute \
  --class-path "$CP" --select-class io.mistralflink.model.compute.cuda.CudaEngineTest --details=tree --disable-banner > $OUT/suite.log 2>&1
el "suite rc $?"
grep -E "tests (successful|failed|found)|✘|^eval .*12 documents|fused prefill|SwiGLU by rows" $OUT/suite.log | head -30
for v in "new knobs on|${NEW[*]}" "default|-Dmistralflink.cuda.fusedPrefill=false"; do
  t=$(( $(left) - 2 )); [ $t -lt 8 ] && { el "no time for ${v%%|*}"; continue; }
  timeout $t "${J[@]}" ${v#*|} -cp "$CP" $B --label "${v%%|*}" --model mistral-7b --batches 1,64 --prefill 2048,8192 --prefill-batches 1 \
    --long-prompts 8192 --long-batches 8,32 2>&1 | grep --line-buffered -E "^RESULT" | tee -a $OUT/bench.log; el "${v%%|*}"
done
# 4. if time is left: decode after 8,192-token prompts at batch 8 / 32 with split-K aiming at two waves of output tiles (a knob that exists)
for w in 2 4; do
  t=$(( $(left) - 1 )); [ $t -ge 15 ] && { timeout $t "${J[@]}" -Dmistralflink.cuda.splitKWaves=$w -cp "$CP" $B --label "splitKWaves=$w" --model mistral-7b \
    --batches "" --prefill "" --long-prompts 8192 --long-batches 8,32 2>&1 | grep --line-buffered -E "^RESULT" | tee -a $OUT/bench.log; el "splitKWaves=$w"; }
done
