#!/usr/bin/env bash
# Generated tokens/s of the Kafka job end to end (submission to the last completion read_committed), on
# `cluster up`'s multi-process cluster (flink run) and on the local MiniCluster (`run`), P=1 and P=2,
# against one broker process. Usage: bench/cluster-throughput.sh [REQUESTS=256] [NEW_TOKENS=64] [ROUNDS=1]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
n=${1:-256}; tokens=${2:-64}; rounds=${3:-1}
mf=bin/mistral-flink
model=$root/examples/models/tiny-mistral
dir=$(mktemp -d /tmp/mistral-flink-bench.XXXXXX)
t0=$(date +%s.%N)
$mf cluster up --dir "$dir" --slots 3 --kafka > "$dir/up.txt"
echo "cluster up (JobManager, 2 TaskManagers, broker): $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
kafka=$(sed -n 's/^kafka: \([^ ]*\).*/\1/p' "$dir/up.txt")
trap '$mf cluster down --dir "$dir" >/dev/null 2>&1 || true' EXIT
jar=$root/job/target/job-0.1.0-SNAPSHOT.jar
run_id=0
for round in $(seq "$rounds"); do
for mode in cluster mini; do
for p in 1 2; do
  run_id=$((run_id + 1)); tag="r$run_id"
  python3 -c "
import json
for i in range($n): print(json.dumps({'request_id': '$tag-%d' % i, 'prompt': 'The jury said that the city of Atlanta %d' % i, 'max_new_tokens': $tokens, 'ignore_eos': True}))
" > "$dir/$tag.jsonl"
  $mf produce --bootstrap-servers "$kafka" --file "$dir/$tag.jsonl" >/dev/null 2>&1
  common=(run --model "$model" --bootstrap-servers "$kafka" --stages "$p" --lanes 2 --sequences-per-lane 16 --transactional-id-prefix "bench-$tag")
  start=$(date +%s.%N)
  if [ "$mode" = cluster ]; then
    job=$($mf cluster flink --dir "$dir" run -d -c io.mistralflink.job.Cli "$jar" "${common[@]:0:1}" --cluster "${common[@]:1}" 2>/dev/null | sed -n 's/^Job has been submitted with JobID //p')
  else
    $mf "${common[@]}" > "$dir/$tag.mini.out" 2>&1 & pid=$!
  fi
  # every run's completions go to the same topic: wait for the total so far (exactly once: no duplicates)
  $mf consume --bootstrap-servers "$kafka" --follow --count $((run_id * n)) 2>/dev/null | { grep -c "\"request_id\":\"$tag-" || true; } > "$dir/$tag.count"
  end=$(date +%s.%N)
  if [ "$mode" = cluster ]; then $mf cluster flink --dir "$dir" cancel "$job" >/dev/null 2>&1; else kill -9 "$pid"; wait "$pid" 2>/dev/null || true; fi
  s=$(echo "$end - $start" | bc)
  [ "$(cat "$dir/$tag.count")" = "$n" ] || echo "warning: $tag: $(cat "$dir/$tag.count") of $n completions" >&2
  printf '%s P=%d: %d x %d tokens in %.1f s: %.0f generated tok/s end to end (load %s)\n' "$mode" "$p" "$n" "$tokens" "$s" \
    "$(echo "$n * $tokens / $s" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
done; done; done
