#!/usr/bin/env bash
# Compare credex binaries on the query path by alternating them.
#
#   scripts/alternate-bench.sh ROUNDS CONCURRENCY BINARY_A BINARY_B [BINARY ...]
#
# Runs `BINARY bench query --concurrency CONCURRENCY --seconds 5` for each
# binary in turn, ROUNDS times, and prints each run, then per binary the
# medians, and for each binary after the first how many rounds it was ahead
# of BINARY_A in the same round and the median of its per-round ratios.
#
# Why alternate: the development VM's speed moves by ±25% from one minute to
# the next (docs/performance.md), so two runs minutes apart compare the
# minutes, not the binaries. Adjacent runs share most of their minute; a
# change counts only if it is ahead in most rounds. A "binary" may be a
# wrapper script that sets an environment variable before exec'ing credex.
set -euo pipefail

if [ $# -lt 4 ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
rounds=$1
concurrency=$2
shift 2
case $rounds$concurrency in
  *[!0-9]*) echo "ROUNDS and CONCURRENCY must be whole numbers" >&2; exit 2 ;;
esac
for binary in "$@"; do
  [ -x "$binary" ] || { echo "$binary: not an executable file" >&2; exit 2; }
done

runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
for round in $(seq 1 "$rounds"); do
  for binary in "$@"; do
    out=$("$binary" bench query --concurrency "$concurrency" --seconds 5 --crypto-seconds 0.1 2>/dev/null) || {
      echo "$binary failed in round $round" >&2
      exit 1
    }
    # The level's row: concurrency, queries/s, p50, p99, p99.9, max, /ceil, /ceil*, CPU µs/q.
    row=$(echo "$out" | awk -v c="$concurrency" '$1 == c && $2 ~ /^[0-9]+$/ { print; exit }')
    [ -n "$row" ] || { echo "$binary: no row for $concurrency in flight" >&2; exit 1; }
    echo "$round $binary $row" | awk '{ printf "%s %s %s %s %s %s\n", $1, $2, $4, $5, $6, $11 }' >> "$runs"
    echo "$row" | awk -v b="$binary" -v r="$round" \
      '{ printf "round %s  %-28s %6s queries/s  p50 %6s ms  p99 %6s ms  %5s µs CPU per query\n", r, b, $2, $3, $4, $9 }'
  done
done

python3 - "$runs" "$@" <<'PY'
import statistics, sys
path, binaries = sys.argv[1], sys.argv[2:]
rows = [line.split() for line in open(path)]
by = {b: {int(r[0]): (float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows if r[1] == b} for b in binaries}
print()
for b in binaries:
    runs = list(by[b].values())
    med = lambda i: statistics.median(r[i] for r in runs)
    print(f"median  {b:<28} {med(0):8.0f} queries/s  p50 {med(1):6.2f} ms  p99 {med(2):6.2f} ms  {med(3):5.0f} µs CPU per query")
base = binaries[0]
for b in binaries[1:]:
    ratios = [by[b][r][0] / by[base][r][0] for r in by[base] if r in by[b]]
    ahead = sum(1 for x in ratios if x > 1)
    print(f"{b} against {base}: ahead in {ahead} of {len(ratios)} rounds, "
          f"median ratio {statistics.median(ratios):.3f} (queries/s)")
PY
