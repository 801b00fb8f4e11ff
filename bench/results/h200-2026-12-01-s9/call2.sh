#!/usr/bin/env bash
# session 9, call 2 (issue 11): the new knobs rowsRmsNorm and prefillPipeline (off by default) against the default, and the
# GPU suite with them on. Bundle: bin/gpu-tests --pack from s9-gpu. In order of importance:
# 1. prefill A/B in one JVM, eager, interleaved, best of 3 (CudaBench --ab-prefill), batch 1 at 512 / 2,048 / 4,096 / 8,192 / 16,384:
#    fused (the default) / +rms / +pipe / +rms+pipe / lean16 (bf16SwiGlu + bf16MatmulInputs) / lean16+rms+pipe; then each variant's
#    per-kernel device time at 2,048
# 2. the GPU suite (CudaEngineTest) with rowsRmsNorm and prefillPipeline on
# 3. the GPU suite with those and bf16SwiGlu and bf16MatmulInputs on
# 4. (time left) the Mixtral-8x7B shape: prefill at 2,048, decode at batch 32 after 2,048-token prompts (defaults)
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a $OUT/timeline.txt; }
left() { echo $(( 405 - ($(date +%s) - t0) )); }
tar xJf .device/jre.tar.xz -C /tmp && mkdir -p /tmp/gpu-lib && tar xJf .device/lib.tar.xz -C /tmp/gpu-lib; el "unpacked"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv > $OUT/gpu.txt 2>&1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
B=io.mistralflink.model.compute.cuda.CudaBench
timeout 110 "${J[@]}" -cp "$CP" $B --model mistral-7b --batches "" --prefill "" --ab-prefill 512,2048,4096,8192,16384 \
  --ab-variants fused,fused+rms,fused+pipe,fused+rms+pipe,lean16,lean16+rms+pipe --ab-reps 3 --profile-prefill 2048 > $OUT/ab.log 2>&1; el "A/B rc $?"
grep -E "^RESULT|PROFILE mistral|PROFILE span|rms_norm|attention_prefill" $OUT/ab.log
NEW=(-Dmistralflink.cuda.rowsRmsNorm=true -Dmistralflink.cuda.prefillPipeline=true)
BF=(-Dmistralflink.cuda.bf16SwiGlu=true -Dmistralflink.cuda.bf16MatmulInputs=true)
suite() { MISTRALFLINK_GPU_TESTS=1 timeout $1 "${J[@]}" "${@:3}" -jar .device/junit-platform-console-standalone-*.jar execute \
  --class-path "$CP" --select-class io.mistralflink.model.compute.cuda.CudaEngineTest --details=tree --disable-banner > $OUT/$2 2>&1; }
suite 130 suite-new.log "${NEW[@]}"; el "suite (rowsRmsNorm, prefillPipeline on) rc $?"
grep -E "tests (successful|failed|found)|✘|^eval .*12 documents|two-stage|float4s, 2048" $OUT/suite-new.log | head -30
t=$(( $(left) - 60 )); [ $t -gt 130 ] && t=130
suite $t suite-all.log "${NEW[@]}" "${BF[@]}"; el "suite (and bf16SwiGlu, bf16MatmulInputs on) rc $?"
grep -E "tests (successful|failed|found)|✘|^eval .*12 documents" $OUT/suite-all.log | head -30
t=$(( $(left) - 2 )); [ $t -ge 30 ] && { timeout $t "${J[@]}" -cp "$CP" $B --model mixtral-8x7b --batches "" --prefill 2048 --prefill-batches 1 \
  --long-prompts 2048 --long-batches 32 > $OUT/mixtral.log 2>&1; el "mixtral rc $?"; grep -E "^RESULT|weights made" $OUT/mixtral.log; }
