-- credex storage, PostgreSQL: the records in import order, as the upward
-- reporter reads them (Storage::records_imported orders by import time,
-- then category and record id in byte order). Without it every page was a
-- scan of the whole records table (docs/decisions/1050-national-intake.md).
CREATE INDEX records_by_import ON records
    (imported_at_unix_ms, category COLLATE "C", record_id COLLATE "C");
-- Attachments (signed messages and queries, kept whole for the auditor)
-- are postcard with signatures: compression gains little and costs the
-- writer's transaction a pglz pass over each; store them uncompressed.
ALTER TABLE attachments ALTER COLUMN body SET STORAGE EXTERNAL;
