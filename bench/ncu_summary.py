#!/usr/bin/env python3
"""Sums ncu's per-launch gpu__time_duration (csv from `ncu --csv --metrics gpu__time_duration.sum`) by kernel."""
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 5]
hdr = rows[0]; ki = hdr.index("Kernel Name"); vi = hdr.index("Metric Value")
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in rows[1:]:
    try: v = float(r[vi].replace(",", ""))
    except ValueError: continue
    name = r[ki].split("(")[0][:60]; tot[name] += v; cnt[name] += 1
all_ns = sum(tot.values())
print(f"{len(rows) - 1} launches, {all_ns / 1e6:.3f} ms of kernel time")
for n, v in sorted(tot.items(), key=lambda x: -x[1]):
    print(f"{n:60s} {cnt[n]:6d} launches {v / 1e3:10.1f} us  {v / cnt[n] / 1e3:8.2f} us each  {100 * v / all_ns:5.1f}%")
