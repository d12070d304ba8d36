-- credex storage, PostgreSQL: the journal as a verifiable RFC 6962 Merkle
-- log. Runs with search_path set to the node's schema (if one is
-- configured).

-- Every complete-subtree hash of the log, in Go's stored-hash layout
-- (golang.org/x/mod/sumdb/tlog): appending journal record n stores its leaf
-- hash (SHA-256(0x00 || entry), entry = kind u16 BE || recorded_at i64 BE
-- || body) at stored_hash_index(0, n), then one hash per perfect subtree
-- that record completes. Written in the same transaction as the journal
-- rows (under the journal's advisory lock), so the table always holds
-- exactly stored_hash_count(journal size) rows.
CREATE TABLE tree_hashes (
    idx BIGINT PRIMARY KEY
        CONSTRAINT tree_hashes_idx_nonnegative CHECK (idx >= 0),
    hash BYTEA NOT NULL
        CONSTRAINT tree_hashes_hash_len CHECK (octet_length(hash) = 32)
);

-- Checkpoints of this node's log (C2SP tlog-checkpoint as a C2SP signed
-- note), one per tree size.
CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY
        CONSTRAINT checkpoints_size_nonnegative CHECK (size >= 0),
    note TEXT NOT NULL,
    signed_at_unix_ms BIGINT NOT NULL
);

-- Cosignatures (C2SP tlog-cosignature signature lines) that witnesses
-- returned for this node's checkpoints.
CREATE TABLE cosignatures (
    size BIGINT NOT NULL REFERENCES checkpoints (size),
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (size, witness)
);

-- The latest checkpoint this node has verified of each peer's log.
CREATE TABLE witnessed (
    origin TEXT PRIMARY KEY,
    size BIGINT NOT NULL
        CONSTRAINT witnessed_size_nonnegative CHECK (size >= 0),
    note TEXT NOT NULL,
    updated_at_unix_ms BIGINT NOT NULL
);

-- Signed checkpoints that cannot both be true (a fork), kept as evidence.
CREATE TABLE evidence (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    first TEXT NOT NULL,
    second TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_at_unix_ms BIGINT NOT NULL
);
