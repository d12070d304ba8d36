-- credex storage, PostgreSQL: the attachment a journal entry carries, kept
-- by the entry's sequence number (decision 1220). A digest is random, so a
-- key on it takes one random index page per query; keyed by the entry's
-- seq, a batch's attachments land at the index's end. A reader names the
-- entry. `attachments` keeps the parts of assemblies, rows written before
-- this table, and the attachments `credex log recover` puts back.
CREATE TABLE entry_attachments (
    seq BIGINT PRIMARY KEY
        CONSTRAINT entry_attachments_seq_nonnegative CHECK (seq >= 0),
    digest BYTEA NOT NULL
        CONSTRAINT entry_attachments_digest_len CHECK (octet_length(digest) = 32),
    body BYTEA NOT NULL,
    assembled BOOLEAN NOT NULL
);
ALTER TABLE entry_attachments ALTER COLUMN body SET STORAGE EXTERNAL;
