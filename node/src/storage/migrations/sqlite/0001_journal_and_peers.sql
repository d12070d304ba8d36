-- credex storage, SQLite: the append-only journal and the peers seen.

-- Records are written in batches by the node's single writer; seq is
-- contiguous from 0 and assigned inside the batch transaction.
CREATE TABLE journal (
    seq INTEGER PRIMARY KEY
        CONSTRAINT journal_seq_nonnegative CHECK (seq >= 0),
    kind INTEGER NOT NULL
        CONSTRAINT journal_kind_range CHECK (kind BETWEEN 0 AND 65535),
    recorded_at_unix_ms INTEGER NOT NULL,
    body BLOB NOT NULL
) STRICT;

-- One row per peer certificate fingerprint: the latest sighting plus the
-- time of the first.
CREATE TABLE peers (
    fingerprint BLOB PRIMARY KEY
        CONSTRAINT peers_fingerprint_len CHECK (length(fingerprint) = 32),
    region TEXT NOT NULL
        CONSTRAINT peers_region_code CHECK (length(region) = 6 AND region NOT GLOB '*[^0-9]*'),
    node TEXT NOT NULL,
    protocol_version INTEGER NOT NULL
        CONSTRAINT peers_protocol_version_range CHECK (protocol_version BETWEEN 0 AND 65535),
    first_seen_unix_ms INTEGER NOT NULL,
    last_seen_unix_ms INTEGER NOT NULL
) STRICT;

-- The capabilities of the latest sighting, in announced order.
CREATE TABLE peer_capabilities (
    fingerprint BLOB NOT NULL REFERENCES peers (fingerprint) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    capability TEXT NOT NULL,
    PRIMARY KEY (fingerprint, position)
) STRICT, WITHOUT ROWID;
