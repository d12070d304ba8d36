-- credex storage, PostgreSQL: the append-only journal and the peers seen.
-- Runs with search_path set to the node's schema (if one is configured).

-- Records are written in batches by the node's writer; seq is contiguous
-- from 0 and assigned inside the batch transaction, under an advisory lock
-- keyed on this table.
CREATE TABLE journal (
    seq BIGINT PRIMARY KEY
        CONSTRAINT journal_seq_nonnegative CHECK (seq >= 0),
    kind INTEGER NOT NULL
        CONSTRAINT journal_kind_range CHECK (kind BETWEEN 0 AND 65535),
    recorded_at_unix_ms BIGINT NOT NULL,
    body BYTEA NOT NULL
);

-- One row per peer certificate fingerprint: the latest sighting plus the
-- time of the first.
CREATE TABLE peers (
    fingerprint BYTEA PRIMARY KEY
        CONSTRAINT peers_fingerprint_len CHECK (octet_length(fingerprint) = 32),
    region TEXT NOT NULL
        CONSTRAINT peers_region_code CHECK (region ~ '^[0-9]{6}$'),
    node TEXT NOT NULL,
    protocol_version INTEGER NOT NULL
        CONSTRAINT peers_protocol_version_range CHECK (protocol_version BETWEEN 0 AND 65535),
    first_seen_unix_ms BIGINT NOT NULL,
    last_seen_unix_ms BIGINT NOT NULL
);

-- The capabilities of the latest sighting, in announced order.
CREATE TABLE peer_capabilities (
    fingerprint BYTEA NOT NULL REFERENCES peers (fingerprint) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    capability TEXT NOT NULL,
    PRIMARY KEY (fingerprint, position)
);
