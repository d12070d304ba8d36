#!/bin/bash
# Bytes a `credex bench query` level writes to disk per query, read from
# /proc/PID/io over 5 s of the measured phase (issue 18 §1, decision 1180).
# At 1 in flight every query costs exactly four group commits, so the figure
# does not depend on how the writer batched; at higher levels it does.
#
# Usage: scripts/disk-writes-per-query.sh [BINARY] [CONCURRENCY]
set -euo pipefail
bin=${1:-target/release/credex}
level=${2:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$bin" bench query --concurrency "$level" --seconds 6 --crypto-seconds 0.1 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 480); do
    grep -q "measuring for" "$log" && break
    sleep 0.25
done
sleep 0.5
w0=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
t0=$(date +%s.%N)
sleep 5
w1=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
t1=$(date +%s.%N)
wait "$pid"
qps=$(grep -E "^ +$level " "$log" | awk '{print $2}')
commits=$(grep -oE '[0-9.]+ group commits per query' "$log" | head -1)
python3 -c "print(f'{$qps} queries/s, {($w1 - $w0) / 1024 / ($qps * ($t1 - $t0)):.1f} KB written per query, $commits')"
