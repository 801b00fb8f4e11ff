#!/usr/bin/env bash
# session 7, call 1: the tensor-core small GEMM (gemm_small*/swiglu_small*, default for 1-32 rows) and the CudaMatmul /
# CudaElementwise split: GPU suite; 7B bench (128 + 128 at 1/8/16/32/64, prefill 512/2,048/8,192 at batch 1, decode after
# 4,096/8,192-token prompts at 1/8/32) beside the SDPA prefill peer at the same lengths; A/B: the same decode figures with
# -Dmistralflink.cuda.mmaGemmRows=0 (session 6's GEMV + cuBLAS) in a separate JVM; Mixtral shape; prefill with SwiGLU's GEMM in bf16
# (bf16SwiGlu=true: bench + the whole-model tests with it); cuBLAS(Lt) algorithms at the prefill shapes (M = 2,048)
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 170 .device/bin/gpu-tests .device > $OUT/suite-stdout.txt 2>&1; el "tests rc $?"; rm -rf $OUT/junit
grep -E "tests (successful|failed|found)|✘" $OUT/gpu-tests.log | head -30
grep -E "^eval .*12 documents|^matmul .*(4096x|1536)|^fused output 3" $OUT/gpu-tests.log | head -40
BENCH_MODELS="mistral-7b mixtral-8x7b" BENCH_VARIANTS= BENCH_BATCHES=1,8,16,32,64 PREFILL_LENGTHS=512,2048,8192 PREFILL_BATCHES=1 \
  LONG_PROMPTS=4096,8192 LONG_BATCHES=1,8,32 PEER_MODES= PEER_PREFILL_LENGTHS=512,2048,8192 PEER_PREFILL_BATCHES=1 \
  MIXTRAL_BATCHES=32 MIXTRAL_PREFILL_LENGTHS=2048 MIXTRAL_LONG_PROMPTS=2048 MIXTRAL_LONG_BATCHES=32 \
  JAVA_BENCH_TIMEOUT=150 PEER_TIMEOUT=90 .device/bin/gpu-tests --bench .device > $OUT/bench-all.log 2>&1; el "bench done"
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
timeout 90 "${J[@]}" -Dmistralflink.cuda.mmaGemmRows=0 -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "GEMV + cuBLAS (mmaGemmRows=0)" \
  --model mistral-7b --prefill "" --batches 1,8,16,32,64 --long-prompts 4096,8192 --long-batches 1,8,32 2>&1 | grep -E "^RESULT" | tee $OUT/variants.log; el "A/B old GEMMs"
timeout 40 "${J[@]}" -Dmistralflink.cuda.mmaGemmRows=32 -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "small GEMM again" \
  --model mistral-7b --prefill "" --batches 1,8,32 2>&1 | grep -E "^RESULT" | tee -a $OUT/variants.log; el "A/B new again"
timeout 40 "${J[@]}" -Dmistralflink.cuda.mmaGemmWide=false -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "small GEMM, 16 features a block at 17-32 rows" \
  --model mistral-7b --prefill "" --batches 32 --long-prompts 8192 --long-batches 32 2>&1 | grep -E "^RESULT" | tee -a $OUT/variants.log; el "A/B narrow"
timeout 60 "${J[@]}" -Dmistralflink.cuda.bf16SwiGlu=true -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "bf16 SwiGLU GEMM" \
  --model mistral-7b --batches "" --prefill 512,2048,8192 --prefill-batches 1 2>&1 | grep -E "^RESULT" | tee -a $OUT/variants.log; el "A/B bf16 SwiGLU"
MISTRALFLINK_GPU_TESTS=1 timeout 90 "${J[@]}" -Dmistralflink.cuda.bf16SwiGlu=true -jar .device/junit-platform-console-standalone-*.jar execute --class-path "$CP" \
  --select-method 'io.mistralflink.model.compute.cuda.CudaEngineTest#brownPerplexitiesWithinOnePercentOfHuggingFace(java.lang.String)' \
  --select-method 'io.mistralflink.model.compute.cuda.CudaEngineTest#logitsMatchCpuEngineWithinBf16Tolerance(java.lang.String)' \
  --select-method 'io.mistralflink.model.compute.cuda.CudaEngineTest#chunkedPrefillMatchesOnePass(java.lang.String)' \
  --details=tree --disable-banner > $OUT/bf16-swiglu-tests.log 2>&1; el "bf16 SwiGLU tests rc $?"
grep -E "tests (successful|failed)|✘|^eval .*12 documents" $OUT/bf16-swiglu-tests.log | head -12
timeout 50 "${J[@]}" -cp "$CP" io.mistralflink.model.compute.cuda.GemmSweep --m 2048 --shapes gateup,qkv --reps 20 > $OUT/gemm-sweep-2048.txt 2>&1; el "sweep rc $?"
grep -E "^== |gemmEx|best" $OUT/gemm-sweep-2048.txt | head -20
rm -f $OUT/peer.json $OUT/suite-stdout.txt; grep -h -E '^(RESULT|PEER)' $OUT/bench-java.log $OUT/bench-peer.log; rm -f $OUT/bench-all.log   # 8 files at most come back
