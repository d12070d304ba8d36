-- credex storage, PostgreSQL: a copy of another region's record (the
-- national node's copies of what provinces report upward) carries the key
-- its owner names it by in corrections: the owner's six code digits, then
-- credex_journal::record_key of the owner's category and record id. It
-- replaces one flow_state row per copy (`upward.copies`), which stays
-- readable for copies taken in before this migration
-- (docs/decisions/1050-national-intake.md).
ALTER TABLE records ADD COLUMN copy_of BYTEA
    CONSTRAINT records_copy_of_len CHECK (copy_of IS NULL OR octet_length(copy_of) = 38);
CREATE INDEX records_by_copy ON records (copy_of) WHERE copy_of IS NOT NULL;

-- The upward reporter pages through this region's own records only; a
-- copy is never reported again, so the import-order index leaves copies
-- out (the national node, which holds nothing but copies, no longer keeps
-- it up per record).
DROP INDEX records_by_import;
CREATE INDEX records_by_import ON records (imported_at_unix_ms, category COLLATE "C", record_id COLLATE "C")
    WHERE copy_of IS NULL;
