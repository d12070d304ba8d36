-- credex storage, SQLite: the attachment a journal entry carries, kept by
-- the entry's sequence number (decision 1220).
--
-- A query's bundle, a received message's envelope and a delivery
-- acknowledgement were kept in `attachments`, keyed by their SHA-256. A
-- digest is random, so the key's index took one random leaf page per query,
-- written whole to the WAL at each group commit and again at each WAL
-- checkpoint. Kept by the entry's seq instead, a batch's attachments land
-- on the table's last page. A reader names the entry (every reader of an
-- entry's attachment holds it: the export, the audit fetch's hint, the
-- event feed). `attachments` keeps what is shared or kept before this
-- table: the parts of assemblies, rows written before it, and the
-- attachments `credex log recover` puts back.
CREATE TABLE entry_attachments (
    seq INTEGER PRIMARY KEY
        CONSTRAINT entry_attachments_seq_nonnegative CHECK (seq >= 0),
    digest BLOB NOT NULL
        CONSTRAINT entry_attachments_digest_len CHECK (length(digest) = 32),
    body BLOB NOT NULL,
    assembled INTEGER NOT NULL
        CONSTRAINT entry_attachments_assembled CHECK (assembled IN (0, 1))
) STRICT;
