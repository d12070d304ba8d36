-- credex storage, SQLite: encryption at rest (decision 1110). The data keys
-- that seal record bodies, attachments and flow-state values, each wrapped
-- by the node's key-encryption key; new values are sealed under the highest
-- id. And the tables whose values held in clear are still to be sealed
-- (filled when the first data key is created, emptied as each is done).
CREATE TABLE data_keys (
    id INTEGER PRIMARY KEY
        CONSTRAINT data_keys_id_range CHECK (id BETWEEN 1 AND 4294967295),
    cipher TEXT NOT NULL
        CONSTRAINT data_keys_cipher CHECK (cipher IN ('sm4-gcm', 'aes-256-gcm')),
    wrapped BLOB NOT NULL,
    created_at_unix_ms INTEGER NOT NULL,
    rewrapped_at_unix_ms INTEGER
);

CREATE TABLE at_rest_backfill (
    tbl TEXT PRIMARY KEY
        CONSTRAINT at_rest_backfill_tbl CHECK (tbl IN ('records', 'attachments', 'flow_state'))
);
