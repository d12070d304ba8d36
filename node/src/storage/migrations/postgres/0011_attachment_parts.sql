-- credex storage, PostgreSQL: attachments that share parts (decision 1180).
-- An attachment may be stored as an assembly of inline bytes and references
-- to parts (e.g. officers' certificates), each part an attachment of its own
-- under its SHA-256; `assembled` says which form the body holds.
ALTER TABLE attachments ADD COLUMN assembled BOOLEAN NOT NULL DEFAULT false;
