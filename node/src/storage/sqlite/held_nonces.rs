//! The short-lived nonces of a SQLite store, kept in its writer's memory
//! (decision 1210).
//!
//! A nonce that expires within [`HELD_HORIZON_MS`] of its claim (a
//! query's: twice the clock-skew window) is stored in `recent_nonces`,
//! keyed by expiry first (migration 12), so the claims of a group commit
//! land on its last page rather than on one random page each; that table
//! has no index by (region, nonce). Whether such a nonce was already used
//! is answered here, from a set that holds every row of the table:
//!
//! - the writer's first claims load it from the table inside their batch
//!   transaction, under SQLite's write lock, and name this writer in
//!   `nonce_holder`;
//! - every batch that claims reads `nonce_holder` under the same lock: if
//!   it names another writer, another process claimed nonces in this
//!   store since, and the set is loaded again before any claim is decided;
//! - a batch's nonces join the set only once its commit succeeded; after a
//!   failed commit, or an edit of the store outside the claims (the
//!   `danger` edits, a claim through the sqlx connection), the set is
//!   loaded again before the next claim;
//! - a purge of expired nonces forgets the same nonces here.
//!
//! So the set never lacks a nonce of the table, which is what refusing a
//! replay needs. It holds one entry per unexpired short-lived nonce: the
//! queries of twice the clock-skew window, never more than a day's. Nonces
//! kept longer (message ids, ten years) stay in `nonces`, keyed by
//! (region, nonce), and are read from there.

use std::collections::{BTreeSet, HashSet};

use rusqlite::{Connection, OptionalExtension, params};

/// Nonces that expire within this long of their claim are held in memory
/// and stored in expiry order: a day.
pub(crate) const HELD_HORIZON_MS: i64 = 24 * 3600 * 1000;

/// A (requester region, nonce) pair, the region as its six-digit code's
/// number (the table's CHECK keeps it six digits): a key without a heap
/// string, so that a held nonce costs about 100 bytes with both indexes.
type NonceKey = (u32, [u8; 16]);

/// The nonces of the store, as this writer knows them.
pub(crate) struct HeldNonces {
    /// This writer's id in `nonce_holder`.
    holder: [u8; 16],
    /// `None` until loaded, and again once it may be stale.
    held: Option<Held>,
}

#[derive(Default)]
struct Held {
    seen: HashSet<NonceKey>,
    /// The same nonces by expiry, to forget them when they are purged.
    by_expiry: BTreeSet<(i64, u32, [u8; 16])>,
}

impl HeldNonces {
    /// An empty set under a fresh holder id; loaded by the first claims.
    pub(crate) fn new() -> HeldNonces {
        HeldNonces {
            holder: crate::ids::random_id(),
            held: None,
        }
    }

    /// Makes the set hold every nonce of the table, in the batch
    /// transaction open on `connection` (SQLite's write lock held): loads
    /// them if not loaded or if another writer is the holder, and names
    /// this writer the holder.
    pub(crate) fn make_current(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        let holder: Option<Vec<u8>> = connection
            .prepare_cached("SELECT holder FROM nonce_holder WHERE only = 0")?
            .query_row([], |row| row.get(0))
            .optional()?;
        if self.held.is_some() && holder.as_deref() == Some(self.holder.as_slice()) {
            return Ok(());
        }
        let mut held = Held::default();
        let mut rows = connection.prepare_cached(
            "SELECT expires_at_unix_ms, requester_region, nonce FROM recent_nonces",
        )?;
        let mut rows = rows.query([])?;
        while let Some(row) = rows.next()? {
            let expires: i64 = row.get(0)?;
            let region: String = row.get(1)?;
            let nonce: Vec<u8> = row.get(2)?;
            // The table's CHECKs keep every region at six digits and every
            // nonce at 16 bytes.
            let (Some(region), Ok(nonce)) = (
                region_number(&region),
                <[u8; 16]>::try_from(nonce.as_slice()),
            ) else {
                continue;
            };
            held.insert(expires, region, nonce);
        }
        connection
            .prepare_cached(
                "INSERT INTO nonce_holder (only, holder) VALUES (0, ?1) \
                 ON CONFLICT (only) DO UPDATE SET holder = excluded.holder",
            )?
            .execute(params![self.holder.as_slice()])?;
        self.held = Some(held);
        Ok(())
    }

    /// Whether `nonce` of `region` is held. Call [`HeldNonces::make_current`]
    /// first in the same transaction; an unloaded set holds nothing.
    pub(crate) fn contains(&self, region: &str, nonce: &[u8; 16]) -> bool {
        let Some(region) = region_number(region) else {
            // Not a region code: the table cannot hold it.
            return false;
        };
        self.held
            .as_ref()
            .is_some_and(|h| h.seen.contains(&(region, *nonce)))
    }

    /// Adds the nonces of a batch whose commit succeeded.
    pub(crate) fn committed(&mut self, nonces: Vec<(String, [u8; 16], i64)>) {
        let Some(held) = &mut self.held else {
            return;
        };
        for (region, nonce, expires) in nonces {
            match region_number(&region) {
                Some(region) => held.insert(expires, region, nonce),
                // Not reached: the table's CHECK refused the batch. Load
                // again rather than hold less than the table.
                None => {
                    self.held = None;
                    return;
                }
            }
        }
    }

    /// Forgets the set: it is loaded again before the next claim.
    pub(crate) fn forget(&mut self) {
        self.held = None;
    }

    /// Forgets the nonces that expired before `now_unix_ms`, as the purge
    /// did in the table.
    pub(crate) fn purged(&mut self, now_unix_ms: i64) {
        let Some(held) = &mut self.held else {
            return;
        };
        let kept = held.by_expiry.split_off(&(now_unix_ms, 0, [0; 16]));
        for (_, region, nonce) in std::mem::replace(&mut held.by_expiry, kept) {
            held.seen.remove(&(region, nonce));
        }
    }
}

impl Held {
    fn insert(&mut self, expires: i64, region: u32, nonce: [u8; 16]) {
        self.by_expiry.insert((expires, region, nonce));
        self.seen.insert((region, nonce));
    }
}

/// The number of a six-digit region code, `None` for anything else.
fn region_number(region: &str) -> Option<u32> {
    if region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    region.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purged_forgets_exactly_what_expired_before_now() {
        let mut held = HeldNonces::new();
        held.held = Some(Held::default());
        held.committed(vec![
            ("520000".into(), [1; 16], 100),
            ("520000".into(), [2; 16], 200),
            ("500000".into(), [3; 16], 300),
        ]);
        held.purged(200);
        assert!(!held.contains("520000", &[1; 16]));
        assert!(held.contains("520000", &[2; 16]));
        assert!(held.contains("500000", &[3; 16]));
        assert!(
            !held.contains("500000", &[2; 16]),
            "the region is part of the key"
        );
        held.purged(1_000);
        assert!(!held.contains("500000", &[3; 16]));
    }

    #[test]
    fn an_unloaded_set_adds_nothing_and_holds_nothing() {
        let mut held = HeldNonces::new();
        held.committed(vec![("520000".into(), [1; 16], 100)]);
        assert!(held.held.is_none());
        assert!(!held.contains("520000", &[1; 16]));
    }

    #[test]
    fn a_region_is_held_by_its_six_digit_code_only() {
        assert_eq!(region_number("520000"), Some(520_000));
        assert_eq!(region_number("000000"), Some(0));
        for bad in ["52000", "5200000", "52000a", "+52000", "", "５２００００"] {
            assert_eq!(region_number(bad), None, "{bad}");
        }
        let mut held = HeldNonces::new();
        held.held = Some(Held::default());
        held.committed(vec![("000000".into(), [9; 16], 100)]);
        assert!(held.contains("000000", &[9; 16]));
        assert!(!held.contains("0", &[9; 16]));
        // A region that is not a code empties the set rather than holding
        // less than the table.
        held.committed(vec![("52000x".into(), [8; 16], 100)]);
        assert!(held.held.is_none());
    }
}
