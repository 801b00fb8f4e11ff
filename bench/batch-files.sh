#!/usr/bin/env bash
# batch: today's single-file mode (requests read by the client, env.fromData, one JSONL file) against the
# file source and sink (--output DIR, checkpointed), on the same requests, interleaved, ROUNDS times.
# usage: bench/batch-files.sh [REQUESTS=10000] [ROUNDS=2] [pipeline options...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n=${1:-10000}; rounds=${2:-2}; shift 2 || true
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$n" > "$work/in.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"request_id": f"r{i}", "prompt": f"Row {i} of the batch said", "max_new_tokens": 2 + i % 3}))
PY
model="$root/examples/models/tiny-mistral"
"$root/bin/mistral-flink" --help > /dev/null   # build once, outside the timings
for r in $(seq "$rounds"); do
  for mode in file dir; do
    rm -rf "$work/out" "$work/out.jsonl" "$work/ck"
    if [ "$mode" = file ]; then out="$work/out.jsonl"; extra=(); else out="$work/out"; extra=(--checkpoint-dir "$work/ck"); fi
    t0=$(date +%s.%N)
    "$root/bin/mistral-flink" batch --model "$model" --input "$work/in.jsonl" --output "$out" "${extra[@]}" --quiet "$@" > "$work/summary" 2> "$work/err"
    t1=$(date +%s.%N)
    lines=$(if [ "$mode" = file ]; then cat "$out"; else cat "$out"/part-*; fi | wc -l)
    tokens=$(if [ "$mode" = file ]; then cat "$out"; else cat "$out"/part-*; fi | python3 -c 'import json,sys; print(sum(json.loads(l).get("completion_tokens",0) for l in sys.stdin))')
    python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'round $r $mode: {s:.1f} s, $lines lines, $tokens tokens, {int(sys.argv[3])/s:.1f} tokens/s (process wall time)')" "$t0" "$t1" "$tokens"
  done
done
