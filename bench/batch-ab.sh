#!/usr/bin/env bash
# batch: interleaved A/B of two checkouts, base (BASE=DIR, e.g. a `git archive` of an older commit, built by its
# bin/mistral-flink) and new (this one), on one input of N requests, ROUNDS rounds.
# usage: BASE=DIR bench/batch-ab.sh N ROUNDS SPEC...   SPEC: {base,new}:{file,dir}[:CHECKPOINT_INTERVAL_MS]
# e.g.  BASE=/tmp/old bench/batch-ab.sh 2000 2 base:dir new:dir new:file base:dir:60000 new:dir:60000
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n=$1; rounds=$2; shift 2
work=$(mktemp -d)
python3 - "$n" > "$work/in.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"request_id": f"r{i}", "prompt": f"Row {i} of the batch said", "max_new_tokens": 2 + i % 3}))
PY
for root in "${BASE:?BASE=DIR of the base checkout}" "$here"; do "$root/bin/mistral-flink" --help > /dev/null; done   # built outside the timings
for r in $(seq "$rounds"); do
  for spec in "$@"; do   # spec: root:mode[:interval]
    IFS=: read -r name mode ival <<< "$spec"
    root=${BASE:?BASE=DIR of the base checkout}; [ "$name" = new ] && root="$here"
    rm -rf "$work/out" "$work/out.jsonl" "$work/ck"
    if [ "$mode" = file ]; then out="$work/out.jsonl"; extra=(); else out="$work/out"; extra=(--checkpoint-dir "$work/ck"); [ -n "$ival" ] && extra+=(--checkpoint-interval-ms "$ival"); fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    "$root/bin/mistral-flink" batch --model "$root/examples/models/tiny-mistral" --input "$work/in.jsonl" --output "$out" "${extra[@]}" --quiet > "$work/summary" 2> "$work/err"
    rc=$?
    t1=$(date +%s.%N)
    lines=$(if [ "$mode" = file ]; then cat "$out"; else cat "$out"/part-*; fi | wc -l)
    python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'round $r $spec: {s:.1f} s, rc $rc, $lines lines, load at start $load', flush=True)" "$t0" "$t1"
  done
done
rm -rf "$work"
