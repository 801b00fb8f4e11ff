#!/usr/bin/env bash
# session 7, call 2 (the final code): GPU suite with the final defaults (small GEMM off: mmaGemmRows=0, GEMV + cuBLAS);
# A/B in separate JVMs, same call: the software-pipelined small GEMM (-Dmistralflink.cuda.mmaGemmRows=32) against the default,
# 128 + 128 at batch 1/8/16/32 and decode after 8,192-token prompts at 1/8/32
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 120 .device/bin/gpu-tests .device > $OUT/suite-stdout.txt 2>&1; el "tests rc $?"; rm -rf $OUT/junit $OUT/suite-stdout.txt
grep -E "tests (successful|failed|found)|✘" $OUT/gpu-tests.log | head -30
grep -E "^eval .*12 documents|^matmul .*(4096x4096|32x1024)|^fused output 3, (1|8|32) rows" $OUT/gpu-tests.log | head -20
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
for v in "default (GEMV + cuBLAS)|-Dmistralflink.cuda.mmaGemmRows=0" "pipelined small GEMM|-Dmistralflink.cuda.mmaGemmRows=32"; do
  timeout 35 "${J[@]}" "${v#*|}" -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "${v%%|*}" --model mistral-7b --prefill "" \
    --batches 1,8,16,32 --long-prompts 8192 --long-batches 1,8,32 2>&1 | grep -E "^RESULT" | tee -a $OUT/ab.log; el "${v%%|*}"
done
