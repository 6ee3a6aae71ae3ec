#!/usr/bin/env bash
# Two threads ÷ one on the simd backend, in fresh processes: for each size, N pairs (default 5) of a
# `--threads 1` and a `--threads 2` process, one after the other, each the median of `--repeat 20`.
# Each process writes its JSON to a file, read only after it has ended: a reader piped beside it
# (python3, awk) starts on the same 2 vCPUs and slows the first ~50 ms of the run it measures.
# Usage, from the project root after `cargo build --release --example parsum`:
#   tools/threads-ratio.sh [SIZE ...]      (default 1e3 1e4 ... 1e9; N=pairs, PARSUM=binary)
set -euo pipefail
bin=${PARSUM:-target/release/examples/parsum}
n=${N:-5}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1e3 1e4 1e5 1e6 1e7 1e8 1e9)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for size in "${sizes[@]}"; do
  for i in $(seq "$n"); do
    for t in 1 2; do
      "$bin" --backend simd --threads "$t" --end "$size" --repeat 20 --json >"$dir/$t.$i"
    done
  done
  python3 - "$dir" "$n" "$size" <<'PY'
import json, statistics, sys
d, n, size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
secs = lambda t, i: json.load(open(f"{d}/{t}.{i}"))["seconds"]
r = sorted(secs(1, i) / secs(2, i) for i in range(1, n + 1))
print(f"{size}: two threads / one {' '.join(f'{x:.2f}' for x in r)}  median {statistics.median(r):.2f}")
PY
done
