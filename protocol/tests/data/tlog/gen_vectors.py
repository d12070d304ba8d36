#!/usr/bin/env python3
"""Independent generator for protocol/tests/data/tlog/generated_vectors.json.

Written from the specifications (RFC 6962 §2.1, c2sp.org/tlog-tiles,
c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature)
with Python's hashlib and OpenSSL's Ed25519 (via `cryptography`), sharing no
code with the Rust implementation it checks. Ed25519 is deterministic, so the
Rust side, given the same seeds, must reproduce every signature byte for byte.

Run from the repository root:
    python3 protocol/tests/data/tlog/gen_vectors.py > protocol/tests/data/tlog/generated_vectors.json
"""

import base64
import hashlib
import json
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf(entry):
    return sha256(b"\x00" + entry)


def node(l, r):
    return sha256(b"\x01" + l + r)


def mth(hashes):
    """RFC 6962 MTH over a list of leaf hashes, straight from the definition."""
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(hashes[:k]), mth(hashes[k:]))


def perfect_levels(leaves):
    """levels[h][i] = root of the perfect subtree of height h numbered i."""
    levels = [list(leaves)]
    while len(levels[-1]) >= 2:
        prev = levels[-1]
        levels.append([node(prev[2 * i], prev[2 * i + 1]) for i in range(len(prev) // 2)])
    return levels


def encode_index(n):
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join(("x%03d" if i < len(groups) - 1 else "%03d") % g for i, g in enumerate(groups))


def tile_path(level, index, width):
    suffix = "" if width == 256 else ".p/%d" % width
    return "tile/%d/%s%s" % (level, encode_index(index), suffix)


def bundle_path(index, width):
    suffix = "" if width == 256 else ".p/%d" % width
    return "tile/entries/%s%s" % (encode_index(index), suffix)


def tiles(size, leaves):
    levels = perfect_levels(leaves)
    out = []
    level = 0
    while size >> (8 * level) > 0:
        hashes_here = size >> (8 * level)
        row = levels[8 * level]
        for index in range((hashes_here + 255) // 256):
            width = min(256, hashes_here - index * 256)
            data = b"".join(row[index * 256 : index * 256 + width])
            out.append({"path": tile_path(level, index, width), "sha256": sha256(data).hex()})
        level += 1
    return out


def bundles(entries):
    out = []
    for index in range((len(entries) + 255) // 256):
        chunk = entries[index * 256 : index * 256 + 256]
        data = b"".join(struct.pack(">H", len(e)) + e for e in chunk)
        out.append({"path": bundle_path(index, len(chunk)), "sha256": sha256(data).hex()})
    return out


def entry(i):
    return ("credex test entry %d\n" % i).encode()


# Sanity: the RFC 6962 reference tree of 8 leaves (transparency-dev/merkle).
REF_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243",
                                         "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
assert mth([leaf(e) for e in REF_LEAVES]).hex() == \
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def key_id(name, sig_type, pub):
    return sha256(name.encode() + b"\n" + bytes([sig_type]) + pub)[:4]


def keypair(label):
    seed = sha256(label.encode())
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return seed, sk, pub


def vkey(name, sig_type, pub):
    return "%s+%s+%s" % (name, key_id(name, sig_type, pub).hex(),
                         base64.b64encode(bytes([sig_type]) + pub).decode())


def sig_line(name, kid, sig):
    return "\u2014 %s %s\n" % (name, base64.b64encode(kid + sig).decode())


def main():
    out = {"generator": "protocol/tests/data/tlog/gen_vectors.py"}

    # Tiles and bundles for the sizes the tests name.
    max_size = 65536 + 3
    all_entries = [entry(i) for i in range(max_size)]
    all_leaves = [leaf(e) for e in all_entries]
    out["entry_format"] = "credex test entry {i}\\n"
    out["tiles"] = []
    for size in [1, 255, 256, 257, 65536 + 3]:
        out["tiles"].append({
            "size": size,
            "root": mth(all_leaves[:size]).hex(),
            "tiles": tiles(size, all_leaves[:size]),
            "bundles": bundles(all_entries[:size]),
        })

    # A credex checkpoint over the first 8 test entries, signed by the log
    # (type 0x01) and cosigned by a witness (type 0x04).
    origin = "credex/520000/gy-1"
    size = 8
    root = mth(all_leaves[:size])
    body = "%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode())

    log_seed, log_sk, log_pub = keypair("credex tlog test log key")
    log_sig = log_sk.sign(body.encode())
    log_kid = key_id(origin, 0x01, log_pub)

    witness = "witness.example/w1"
    w_seed, w_sk, w_pub = keypair("credex tlog test witness key")
    timestamp = 1767225600  # 2026-01-01T00:00:00Z
    message = ("cosignature/v1\ntime %d\n" % timestamp).encode() + body.encode()
    w_sig = w_sk.sign(message)
    w_kid = key_id(witness, 0x04, w_pub)

    note = body + "\n" + sig_line(origin, log_kid, log_sig) + \
        sig_line(witness, w_kid, struct.pack(">Q", timestamp) + w_sig)

    out["checkpoint"] = {
        "origin": origin,
        "size": size,
        "root": root.hex(),
        "body": body,
        "log_seed": log_seed.hex(),
        "log_vkey": vkey(origin, 0x01, log_pub),
        "witness_name": witness,
        "witness_seed": w_seed.hex(),
        "witness_vkey": vkey(witness, 0x04, w_pub),
        "timestamp": timestamp,
        "cosigned_message": message.decode(),
        "signed_note": note,
    }
    print(json.dumps(out, indent=1, ensure_ascii=False))


main()
