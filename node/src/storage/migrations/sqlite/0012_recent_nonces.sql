-- credex storage, SQLite: the nonces of short-lived claims kept in expiry
-- order (decision 1210).
--
-- A query's nonce is random, so the `nonces` table, keyed by (region,
-- nonce), took one random leaf page per query, written whole to the WAL at
-- each group commit and again at each WAL checkpoint. Nonces that expire
-- within a day of their claim (a query's: twice the clock-skew window) are
-- kept here instead, keyed by expiry first: the claims of a batch land on
-- the table's last page, and a purge is a range of the key. Their
-- uniqueness within a region is kept by the store's writer, which holds
-- every row of this table in memory (`storage::sqlite::held_nonces`) and
-- loads them again whenever `nonce_holder` names another writer. Nonces
-- kept longer (message ids, ten years) stay in `nonces`.
CREATE TABLE recent_nonces (
    expires_at_unix_ms INTEGER NOT NULL,
    requester_region TEXT NOT NULL
        CONSTRAINT recent_nonces_region_code CHECK (length(requester_region) = 6 AND requester_region NOT GLOB '*[^0-9]*'),
    nonce BLOB NOT NULL
        CONSTRAINT recent_nonces_nonce_len CHECK (length(nonce) = 16),
    PRIMARY KEY (expires_at_unix_ms, requester_region, nonce)
) STRICT, WITHOUT ROWID;

-- The writer whose memory holds every row of `recent_nonces`: set by a
-- writer when it loads them, in the transaction of its claims. A writer
-- that finds another's id here loads them again before it claims.
CREATE TABLE nonce_holder (
    only INTEGER PRIMARY KEY
        CONSTRAINT nonce_holder_one_row CHECK (only = 0),
    holder BLOB NOT NULL
        CONSTRAINT nonce_holder_len CHECK (length(holder) = 16)
) STRICT;
