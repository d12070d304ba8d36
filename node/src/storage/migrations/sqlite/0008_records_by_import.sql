-- credex storage: the records in import order, as the upward reporter
-- reads them (Storage::records_imported: a page after a cursor of import
-- time, category and record id). Without it every page was a scan of the
-- whole records table (docs/decisions/1050-national-intake.md).
CREATE INDEX records_by_import ON records (imported_at_unix_ms, category, record_id);
