-- credex storage, SQLite: credit records imported by the region, and the
-- state behind "no release without a logged request" (replay protection,
-- authorization uses, quotas, attachments of journal entries).

-- Credit records (信用信息) imported by this region; body is an opaque
-- record encoded by the node. A re-import of the same (category,
-- record_id) replaces the row.
CREATE TABLE records (
    category TEXT NOT NULL
        CONSTRAINT records_category_len CHECK (length(category) BETWEEN 1 AND 256),
    record_id TEXT NOT NULL
        CONSTRAINT records_record_id_len CHECK (length(record_id) BETWEEN 1 AND 256),
    subject_key TEXT NOT NULL
        CONSTRAINT records_subject_key_len CHECK (length(subject_key) BETWEEN 1 AND 256),
    body BLOB NOT NULL,
    imported_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (category, record_id)
) STRICT;

CREATE INDEX records_by_subject ON records (subject_key, category);

-- Nonces of requests already decided, per requesting region, kept until
-- they expire (replay protection).
CREATE TABLE nonces (
    requester_region TEXT NOT NULL
        CONSTRAINT nonces_region_code CHECK (length(requester_region) = 6 AND requester_region NOT GLOB '*[^0-9]*'),
    nonce BLOB NOT NULL
        CONSTRAINT nonces_nonce_len CHECK (length(nonce) = 16),
    expires_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (requester_region, nonce)
) STRICT, WITHOUT ROWID;

CREATE INDEX nonces_by_expiry ON nonces (expires_at_unix_ms);

-- Uses of a data subject's electronic authorization (电子授权).
CREATE TABLE authorization_uses (
    authorization_id BLOB PRIMARY KEY
        CONSTRAINT authorization_uses_id_len CHECK (length(authorization_id) = 16),
    uses INTEGER NOT NULL
        CONSTRAINT authorization_uses_range CHECK (uses BETWEEN 0 AND 4294967295)
) STRICT, WITHOUT ROWID;

-- Units of quota used by a peer in one window.
CREATE TABLE quota_usage (
    peer TEXT NOT NULL
        CONSTRAINT quota_usage_peer_len CHECK (length(peer) BETWEEN 1 AND 128),
    window_start_unix_ms INTEGER NOT NULL,
    used INTEGER NOT NULL
        CONSTRAINT quota_usage_used_range CHECK (used BETWEEN 0 AND 4294967295),
    PRIMARY KEY (peer, window_start_unix_ms)
) STRICT, WITHOUT ROWID;

-- Content stored beside the journal entries that name its digest (e.g. the
-- full dual-authorization bundle).
CREATE TABLE attachments (
    digest BLOB PRIMARY KEY
        CONSTRAINT attachments_digest_len CHECK (length(digest) = 32),
    body BLOB NOT NULL
) STRICT;
