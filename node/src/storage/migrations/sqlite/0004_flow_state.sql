-- credex storage, SQLite: the state of the federation flows (recognition,
-- joint reward/punishment lists, the upward channel, the outbox of messages
-- still to deliver). One namespace per flow; values are postcard-encoded by
-- the node. Written in the same transaction as the journal record of the
-- event that changed them, so the log and the state commit or fail together.
CREATE TABLE flow_state (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
) STRICT, WITHOUT ROWID;
