-- credex storage, PostgreSQL: the state of the federation flows (recognition,
-- joint reward/punishment lists, the upward channel, the outbox of messages
-- still to deliver). One namespace per flow; values are postcard-encoded by
-- the node. Written in the same transaction as the journal record of the
-- event that changed them, so the log and the state commit or fail together.
-- Keys use the "C" collation so that range scans order them bytewise, as
-- SQLite does.
CREATE TABLE flow_state (
    ns TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    updated_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (ns, key)
);
