#!/usr/bin/env python3
"""Charge each sample of `perf script` output to a component of credex.

Usage: perf script -i perf.data | scripts/perf-components.py

Each sample's stack is walked from the leaf up; the first frame that names a
known component takes the sample. Samples on sqlx's SQLite worker threads
whose frames name nothing known (kernel wake-ups, futexes) count as the
sqlx hand-off. Prints shares of all samples, largest first.
"""
import re
import sys
from collections import Counter

RULES = [
    ("sqlite", re.compile(r"sqlite3")),
    # Hashing before ring's rule: "ring_core_..._sha256_..." is not a signature.
    ("sha256", re.compile(r"sha256")),
    # Allocation before ring's rule: its "ge_" matched mimalloc's "mi_page_malloc".
    ("alloc/memcpy (libc)", re.compile(r"^(_?mi_|malloc|free|realloc|cfree|_int_malloc|_int_free|__memcpy|__memmove|__memset|memcpy|memmove)")),
    ("ed25519/p256 (ring)", re.compile(r"ring::ec|ring_core_|fiat_|\bge_|x25519|ecp_nistz|p256_|GFp_|ring::signature|ed25519")),
    ("x509/webpki", re.compile(r"webpki|x509_parser|der_parser|asn1_rs|x509|rustls_pki_types")),
    ("sqlx + flume hand-offs", re.compile(r"sqlx|flume")),
    ("quic/tls (quinn, rustls)", re.compile(r"quinn|rustls")),
    ("postcard/serde", re.compile(r"postcard|serde")),
    ("tokio", re.compile(r"tokio")),
    ("credex", re.compile(r"credex")),
]

def classify(comm, frames):
    for f in frames:
        # Kernel symbols are charged to the first user frame above them
        # (the syscall's caller); matched here, "ge_" would take
        # "copy_page_to_iter" for ring's Ed25519.
        if f.startswith("[kernel]"):
            continue
        for name, rx in RULES:
            if rx.search(f):
                return name
    if comm.startswith("sqlx-sqlite"):
        return "sqlx + flume hand-offs"
    if any(f.startswith("[kernel]") for f in frames):
        return "kernel (other)"
    return "other"

def samples(lines):
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]
            continue
        parts = line.strip().split(None, 1)
        frame = parts[1] if len(parts) > 1 else parts[0]
        # Drop the "(/path/to/dso)" suffix: the binary's own path names credex.
        kernel = "[kernel" in frame
        frame = re.sub(r"\s*\([^()]*\)\s*$", "", frame)
        frames.append(("[kernel] " if kernel else "") + frame)
    if comm is not None:
        yield comm, frames

counts = Counter(classify(c, f) for c, f in samples(sys.stdin))
total = sum(counts.values()) or 1
print(f"{total} samples")
for name, n in counts.most_common():
    print(f"{100.0 * n / total:6.1f}%  {name}")
