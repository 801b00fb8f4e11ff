#!/usr/bin/env bash
# session 9, call 3 (issue 11): the new defaults (rowsRmsNorm, bf16SwiGlu, bf16MatmulInputs on, from call 2; prefillPipeline off).
# Bundle: bin/gpu-tests --pack from s9-gpu. In order of importance:
# 1. prefill A/B in one JVM, eager, interleaved, best of 3, batch 1 at 512 / 2,048 / 4,096 / 8,192 / 16,384: fused (session 8's
#    defaults) / lean16+rms (the new defaults) / lean16+rms+pipe (and prefillPipeline)
# 2. session 7's method, separate JVMs, graphs as by default, the new defaults: 128 + 128 decode at batch 1 / 64, prefill at the five
#    lengths at batch 1 and 4, decode after 4,096-token prompts at batch 1 and after 8,192 at batch 8 / 32 with the bandwidth bound
# 3. the same decode figures with session 8's defaults (the three knobs off): 128 + 128 at batch 1 / 64, after 8,192 at 8 / 32
# 4. (time left) Mixtral-8x7B shape, new defaults: prefill at 2,048 (batch 1), decode at batch 32 after 2,048-token prompts
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a $OUT/timeline.txt; }
left() { echo $(( 405 - ($(date +%s) - t0) )); }
tar xJf .device/jre.tar.xz -C /tmp && mkdir -p /tmp/gpu-lib && tar xJf .device/lib.tar.xz -C /tmp/gpu-lib; el "unpacked"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv > $OUT/gpu.txt 2>&1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
B=io.mistralflink.model.compute.cuda.CudaBench
timeout 80 "${J[@]}" -cp "$CP" $B --model mistral-7b --batches "" --prefill "" --ab-prefill 512,2048,4096,8192,16384 \
  --ab-variants fused,lean16+rms,lean16+rms+pipe --ab-reps 3 > $OUT/ab.log 2>&1; el "A/B rc $?"
grep -E "^RESULT" $OUT/ab.log
timeout 170 "${J[@]}" -cp "$CP" $B --label "new defaults" --model mistral-7b --batches 1,64 --prefill 512,2048,4096,8192,16384 --prefill-batches 1,4 \
  --long-prompts 4096,8192 --long-batches 1,8,32 2>&1 | grep --line-buffered -E "^RESULT" | tee $OUT/bench-new.log; el "new defaults"
OLD=(-Dmistralflink.cuda.rowsRmsNorm=false -Dmistralflink.cuda.bf16SwiGlu=false -Dmistralflink.cuda.bf16MatmulInputs=false)
t=$(( $(left) - 40 )); [ $t -gt 90 ] && t=90
timeout $t "${J[@]}" "${OLD[@]}" -cp "$CP" $B --label "session 8 defaults" --model mistral-7b --batches 1,64 --prefill "" \
  --long-prompts 8192 --long-batches 8,32 2>&1 | grep --line-buffered -E "^RESULT" | tee $OUT/bench-old.log; el "session 8 defaults"
t=$(( $(left) - 2 )); [ $t -ge 25 ] && { timeout $t "${J[@]}" -cp "$CP" $B --label "new defaults" --model mixtral-8x7b --batches "" --prefill 2048 \
  --prefill-batches 1 --long-prompts 2048 --long-batches 32 2>&1 | grep --line-buffered -E "^RESULT" | tee $OUT/mixtral.log; el "mixtral"; }
