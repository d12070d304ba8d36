#!/usr/bin/env python3
"""Read the per-query stage times of a build with docs/perf/stage-probe.patch applied.

    git apply docs/perf/stage-probe.patch
    cargo build --release -p credex-cli
    CREDEX_PROBE=/tmp/probe target/release/credex bench query --concurrency 64 --seconds 8
    scripts/stage-probe.py /tmp/probe/probe-64.csv

Prints, for the level's measured phase (decision 1310):
  - each stage's mean in ms for all queries, those at or under p50, over p95, over p99;
  - each commit wait split into waiting for the writer, the batch, and the wake-up after it;
  - per writer: batches a second, appends per batch, wall and CPU time, the COMMIT's share;
  - per thread: CPU time and time runnable but waiting for a core (schedstat).
"""
import bisect
import statistics as st
import sys

STAGES = [
    ("requester: intent durable", 0, 1),
    ("to the responder's stream task", 1, 5),
    ("responder: read the frame", 5, 6),
    ("responder: to answer()", 6, 7),
    ("responder: verify", 7, 8),
    ("responder: decide", 8, 9),
    ("responder: read records", 9, 10),
    ("responder: claim durable", 10, 11),
    ("responder: covering checkpoint", 11, 12),
    ("responder: receipt", 12, 13),
    ("responder: sign", 13, 14),
    ("responder: write the frame", 14, 15),
    ("back to the requester", 15, 2),
    ("requester: verify", 2, 3),
    ("requester: answer durable", 3, 4),
]
COMMITS = [("intent", "rq", 0, 1), ("claim", "rs", 10, 11), ("answer", "rq", 3, 4)]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main(path):
    queries, batches, threads = [], {"rq": [], "rs": []}, []
    for line in open(path):
        f = line.rstrip().split(",")
        if f[0] == "Q":
            queries.append([int(x) for x in f[2:]])
        elif f[0] == "B":
            batches.setdefault(f[1], []).append(tuple(int(x) for x in f[2:]))
        elif f[0] == "S":
            threads.append((f[1], f[2], int(f[3]), int(f[4]), int(f[5])))
    queries = [m for m in queries if all(m[i] > 0 for i in range(16))]
    if not queries:
        sys.exit(f"{path}: no query with every stage stamped")
    total = lambda m: m[4] - m[0]
    p50, p95, p99 = (pct([total(m) for m in queries], p) for p in (0.5, 0.95, 0.99))
    groups = {
        "all": queries,
        "<=p50": [m for m in queries if total(m) <= p50],
        ">p95": [m for m in queries if total(m) > p95],
        ">p99": [m for m in queries if total(m) > p99],
    }
    print(f"{len(queries)} queries; total p50 {p50/1000:.2f} p95 {p95/1000:.2f} p99 {p99/1000:.2f} ms")
    print(f"{'stage (mean ms)':34}" + "".join(f"{g:>9}" for g in groups))
    for name, a, b in STAGES:
        print(f"{name:34}" + "".join(f"{st.mean(m[b] - m[a] for m in g) / 1000:9.2f}" for g in groups.values()))
    print(f"{'total':34}" + "".join(f"{st.mean(total(m) for m in g) / 1000:9.2f}" for g in groups.values()))

    for loc in batches:
        batches[loc].sort(key=lambda b: b[2])
    print("\ncommit waits (mean ms): waiting for the writer, the batch, the wake-up after it")
    for name, loc, a, b in COMMITS:
        ends = [x[2] for x in batches[loc]]
        for g in ("<=p50", ">p99"):
            split = []
            for m in groups[g]:
                i = bisect.bisect_right(ends, m[b]) - 1
                if i >= 0 and batches[loc][i][0] >= m[a]:
                    x = batches[loc][i]
                    split.append((x[0] - m[a], x[1] - x[0], m[b] - x[1]))
            if split:
                print(f"  {name:7}{g:6} " + "  ".join(f"{st.mean(s[k] for s in split) / 1000:.2f}" for k in range(3)))

    print("\nwriters: batches/s, appends per batch, wall and CPU ms per batch, COMMIT wall p50/p90/p99 ms")
    for loc, bs in batches.items():
        if not bs:
            continue
        span = (bs[-1][2] - bs[0][0]) / 1e6
        commit = [b[1] - b[5] for b in bs]
        print(
            f"  {loc} {len(bs) / span:6.0f}/s  {st.mean(b[3] for b in bs):5.1f}  "
            f"wall {st.mean(b[1] - b[0] for b in bs) / 1000:.2f}  cpu {st.mean(b[4] for b in bs) / 1000:.2f}  "
            f"commit {pct(commit, .5) / 1000:.2f}/{pct(commit, .9) / 1000:.2f}/{pct(commit, .99) / 1000:.2f}"
        )

    print("\nthreads: CPU ms, runnable but waiting ms")
    for tid, comm, run, delay, _ in sorted(threads, key=lambda t: -t[2]):
        if run >= 1e6:
            print(f"  {tid:>8} {comm:18} {run / 1e6:9.1f} {delay / 1e6:9.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
