-- credex storage, SQLite: the journal as a verifiable RFC 6962 Merkle log.

-- Every complete-subtree hash of the log, in Go's stored-hash layout
-- (golang.org/x/mod/sumdb/tlog): appending journal record n stores its leaf
-- hash (SHA-256(0x00 || entry), entry = kind u16 BE || recorded_at i64 BE
-- || body) at stored_hash_index(0, n), then one hash per perfect subtree
-- that record completes. Written in the same transaction as the journal
-- rows, so the table always holds exactly stored_hash_count(journal size)
-- rows.
CREATE TABLE tree_hashes (
    idx INTEGER PRIMARY KEY
        CONSTRAINT tree_hashes_idx_nonnegative CHECK (idx >= 0),
    hash BLOB NOT NULL
        CONSTRAINT tree_hashes_hash_len CHECK (length(hash) = 32)
) STRICT;

-- Checkpoints of this node's log (C2SP tlog-checkpoint as a C2SP signed
-- note), one per tree size.
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY
        CONSTRAINT checkpoints_size_nonnegative CHECK (size >= 0),
    note TEXT NOT NULL,
    signed_at_unix_ms INTEGER NOT NULL
) STRICT;

-- Cosignatures (C2SP tlog-cosignature signature lines) that witnesses
-- returned for this node's checkpoints.
CREATE TABLE cosignatures (
    size INTEGER NOT NULL REFERENCES checkpoints (size),
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
) STRICT, WITHOUT ROWID;

-- The latest checkpoint this node has verified of each peer's log.
CREATE TABLE witnessed (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL
        CONSTRAINT witnessed_size_nonnegative CHECK (size >= 0),
    note TEXT NOT NULL,
    updated_at_unix_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Signed checkpoints that cannot both be true (a fork), kept as evidence.
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    first TEXT NOT NULL,
    second TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_at_unix_ms INTEGER NOT NULL
) STRICT;
