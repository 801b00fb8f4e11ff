#!/usr/bin/env bash
# session 6, call 1: GPU suite (with the tensor-core decode kernel and the Brown perplexities), the decode kernels A/B
# after 4,096-token prompts (window full: the same bytes a step as after 8,192), the transformers perplexities
set -u
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 200 .device/bin/gpu-tests .device > $OUT/suite-stdout.txt 2>&1; el "tests rc $?"; rm -rf $OUT/junit
grep -E "tests (successful|failed|found)|✘" $OUT/gpu-tests.log | head -20
grep -E "^eval .*12 documents|rel err" $OUT/gpu-tests.log | grep -E "eval|mma|split" | head -20
J=(/tmp/jre/bin/java -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true -Xmx16g)
CP=$(ls /tmp/gpu-lib/lib/*.jar | tr '\n' ':')
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
v() { local label=$1 to=$2; shift 2; local jo=(); while [ "$1" != -- ]; do jo+=("$1"); shift; done; shift
  timeout $to "${J[@]}" "${jo[@]}" -cp "$CP" io.mistralflink.model.compute.cuda.CudaBench --label "$label" "$@" 2>&1 | grep -E "^RESULT|Exception|rror" | tee -a $OUT/variants.log; el "$label"; }
L=(--model mistral-7b --prefill "" --long-prompts 4096)
v "tiled (before)" 70 -Dmistralflink.cuda.mmaDecodeKeys=1000000000 -- "${L[@]}" --batches 1,64 --long-batches 1,8,32
v "mma (default)" 70 -- "${L[@]}" --batches "" --long-batches 1,8,32
v "mma forced, short prompts" 50 -Dmistralflink.cuda.decodeAttention=mma -- --model mistral-7b --prefill "" --batches 1,64
v "mma stages 2" 50 -Dmistralflink.cuda.decodeStages=2 -- "${L[@]}" --batches "" --long-batches 8,32
v "mma stages 4" 50 -Dmistralflink.cuda.decodeStages=4 -- "${L[@]}" --batches "" --long-batches 8,32
v "mma 1 block/SM" 50 -Dmistralflink.cuda.mmaBlocksPerSm=1 -- "${L[@]}" --batches "" --long-batches 1,8,32
v "mma 4 blocks/SM" 50 -Dmistralflink.cuda.mmaBlocksPerSm=4 -- "${L[@]}" --batches "" --long-batches 1,8,32
for m in tiny-mistral tiny-mixtral; do
  PYTHONUNBUFFERED=1 timeout 60 python3 .device/bench/hf_peer.py --perplexity examples/models/$m --modes "" 2>&1 | grep -v Warning | tee -a $OUT/peer-perplexity.log
done
el "peer perplexity"
