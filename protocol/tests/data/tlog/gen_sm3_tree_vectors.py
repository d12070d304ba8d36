#!/usr/bin/env python3
"""Independent generator for protocol/tests/data/tlog/sm3-tree-vectors.txt.

Written from RFC 6962 §2.1 (the Merkle tree hash MTH, by its recursive
definition) with SM3 in place of SHA-256 (decision 1100), and from
c2sp.org/tlog-checkpoint, c2sp.org/signed-note and c2sp.org/tlog-cosignature
for the signed checkpoint. SM3 is OpenSSL's, through Python's hashlib
(`hashlib.new("sm3")`, OpenSSL 3); Ed25519 is OpenSSL's through
`cryptography`. Nothing is shared with the Rust code the file checks.

Run from the repository root:
    python3 protocol/tests/data/tlog/gen_sm3_tree_vectors.py > protocol/tests/data/tlog/sm3-tree-vectors.txt

Output: `#` comments, then lines `key value`:
    root SIZE HEX        SM3 tree roots of the first SIZE entries, SIZE = 0..=MAX
    sha256 SIZE HEX      the SHA-256 (RFC 6962) roots of the same entries
    origin, size, body, log_seed, log_vkey, witness, witness_seed,
    witness_vkey, timestamp, signed_note (base64 of the text, which spans lines)
"""

import base64
import hashlib
import ssl
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX = 70


def sm3(b):
    return hashlib.new("sm3", b).digest()


def sha256(b):
    return hashlib.sha256(b).digest()


assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def mth(h, leaves):
    """RFC 6962 §2.1: MTH over leaf hashes, split at the largest power of two below n."""
    n = len(leaves)
    if n == 0:
        return h(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return h(b"\x01" + mth(h, leaves[:k]) + mth(h, leaves[k:]))


def entry(i):
    # Entries of varied lengths, the empty one first.
    return bytes((i * 7 + j) % 256 for j in range(i * 3))


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
    entries = [entry(i) for i in range(MAX)]
    sm3_leaves = [sm3(b"\x00" + e) for e in entries]
    sha_leaves = [sha256(b"\x00" + e) for e in entries]
    print("# SM3 Merkle tree vectors (decision 1100), by protocol/tests/data/tlog/gen_sm3_tree_vectors.py")
    print("# entry i = bytes((i*7 + j) % 256 for j in range(3*i)); leaf = SM3(0x00 || entry),")
    print("# node = SM3(0x01 || left || right), empty root = SM3(\"\"); SM3 of %s" % ssl.OPENSSL_VERSION)
    for size in range(MAX + 1):
        print("root %d %s" % (size, mth(sm3, sm3_leaves[:size]).hex()))
    for size in range(MAX + 1):
        print("sha256 %d %s" % (size, mth(sha256, sha_leaves[:size]).hex()))

    # A checkpoint of the first 13 entries with the SM3 line, signed by the
    # log (Ed25519, type 0x01) and cosigned by a witness (cosignature/v1, 0x04).
    origin = "credex/520000/gy-1"
    size = 13
    root = mth(sha256, sha_leaves[:size])
    sm3_root = mth(sm3, sm3_leaves[:size])
    body = "%s\n%d\n%s\ncredex/sm3-tree/v1 %s\n" % (
        origin, size, base64.b64encode(root).decode(), base64.b64encode(sm3_root).decode())
    log_seed, log_sk, log_pub = keypair("credex sm3 tree test log key")
    log_sig = log_sk.sign(body.encode())
    witness = "witness.example/w1"
    w_seed, w_sk, w_pub = keypair("credex sm3 tree test witness key")
    timestamp = 1767225600
    message = ("cosignature/v1\ntime %d\n" % timestamp).encode() + body.encode()
    w_sig = w_sk.sign(message)
    note = body + "\n" + sig_line(origin, key_id(origin, 0x01, log_pub), log_sig) + \
        sig_line(witness, key_id(witness, 0x04, w_pub), struct.pack(">Q", timestamp) + w_sig)
    print("origin %s" % origin)
    print("size %d" % size)
    print("body %s" % base64.b64encode(body.encode()).decode())
    print("log_seed %s" % log_seed.hex())
    print("log_vkey %s" % vkey(origin, 0x01, log_pub))
    print("witness %s" % witness)
    print("witness_seed %s" % w_seed.hex())
    print("witness_vkey %s" % vkey(witness, 0x04, w_pub))
    print("timestamp %d" % timestamp)
    print("signed_note %s" % base64.b64encode(note.encode()).decode())


main()
