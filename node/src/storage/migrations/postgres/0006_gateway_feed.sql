-- credex storage, PostgreSQL: the gateway's live record feed (POST /v1/records,
-- docs/decisions/0830-record-feed.md). Written in the batch transaction that
-- applies a feed batch, with its records and its RecordsFed journal entries.

-- Per feeding source (提供方): the last sequence number applied. The next
-- batch of the source must start at last_seq + 1.
CREATE TABLE feed_sources (
    source TEXT PRIMARY KEY
        CONSTRAINT feed_sources_source_len CHECK (length(source) BETWEEN 1 AND 64),
    last_seq BIGINT NOT NULL
        CONSTRAINT feed_sources_last_seq_range CHECK (last_seq >= 1),
    updated_at_unix_ms BIGINT NOT NULL
);

-- One row per applied batch: the calling client's idempotency key, the
-- SHA-256 of the batch as received, and the answer given (JSON), returned
-- again for a retry with the same key and body.
CREATE TABLE feed_idempotency (
    client TEXT NOT NULL
        CONSTRAINT feed_idempotency_client_len CHECK (length(client) BETWEEN 1 AND 256),
    key TEXT NOT NULL
        CONSTRAINT feed_idempotency_key_len CHECK (length(key) BETWEEN 1 AND 128),
    request_digest BYTEA NOT NULL
        CONSTRAINT feed_idempotency_digest_len CHECK (length(request_digest) = 32),
    answer BYTEA NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (client, key)
);
