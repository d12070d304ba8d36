//! What this process's writer committed last, kept in memory for the
//! receipts (issue 18 §1): the journal's newest records and the tree hashes
//! written recently, so that a receipt's entry and inclusion proof need no
//! read of the database and no statement prepared per query.
//!
//! It also keeps the quota units each (peer, window) held after this
//! writer's last commit that claimed from it, so that a query's decision
//! needs no read for it. Another process of the region may have claimed
//! more since: the value is a lower bound, and the claim in the batch,
//! which reads the database under the journal's lock, decides (decision
//! 1160).
//!
//! Records and hashes are immutable once committed (stored hashes are append-only; a
//! record's bytes never change), so a hit is always right; a miss reads the
//! database as before. Filled only after a commit. Emptied by the `danger`
//! rewinds, the one way committed hashes are ever replaced.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use credex_protocol::tlog::Hash;

use super::JournalRecord;

/// Most tree hashes kept (32 bytes each; at most 4 MiB).
const MAX_HASHES: usize = 1 << 17;

/// Most journal records kept (bodies are bounded by `MAX_BODY_LEN`).
const MAX_RECORDS: usize = 1024;

/// The writer's recent commits.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    hashes: Mutex<HashMap<u64, Hash>>,
    records: Mutex<VecDeque<JournalRecord>>,
    /// Units used per (peer, window start), as last committed here; only
    /// the newest window's are kept.
    quota: Mutex<HashMap<(String, i64), i64>>,
}

/// A poisoned lock only means a panic elsewhere; the maps hold complete
/// entries, so the guard is recovered.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Recent {
    /// Keep what a commit wrote: `records` and the stored hashes from index
    /// `first_hash` on.
    pub(crate) fn committed(&self, records: Vec<JournalRecord>, first_hash: u64, hashes: &[Hash]) {
        self.remember(
            (first_hash..)
                .zip(hashes.iter().copied())
                .collect::<Vec<_>>()
                .into_iter(),
        );
        let mut kept = lock(&self.records);
        if kept
            .back()
            .zip(records.first())
            .is_some_and(|(last, first)| last.seq + 1 != first.seq)
        {
            // Another process appended in between: start again from here.
            kept.clear();
        }
        kept.extend(records);
        while kept.len() > MAX_RECORDS {
            kept.pop_front();
        }
    }

    /// Keep `hashes` (index, hash) read or written.
    pub(crate) fn remember(&self, hashes: impl Iterator<Item = (u64, Hash)>) {
        let mut kept = lock(&self.hashes);
        for (index, hash) in hashes {
            if kept.len() >= MAX_HASHES {
                kept.clear();
            }
            kept.insert(index, hash);
        }
    }

    /// The kept hashes among `indexes`, and the indexes not kept.
    pub(crate) fn hashes(&self, indexes: &[u64]) -> (HashMap<u64, Hash>, Vec<u64>) {
        let kept = lock(&self.hashes);
        let mut found = HashMap::with_capacity(indexes.len());
        let mut missing = Vec::new();
        for &index in indexes {
            match kept.get(&index) {
                Some(h) => {
                    found.insert(index, *h);
                }
                None => missing.push(index),
            }
        }
        (found, missing)
    }

    /// Journal record `seq`, if kept.
    pub(crate) fn record(&self, seq: u64) -> Option<JournalRecord> {
        let kept = lock(&self.records);
        let first = kept.front()?.seq;
        let at = usize::try_from(seq.checked_sub(first)?).ok()?;
        kept.get(at).filter(|r| r.seq == seq).cloned()
    }

    /// Forget everything (the log was rewound: only `danger` does).
    #[cfg(any(test, feature = "danger"))]
    pub(crate) fn clear(&self) {
        lock(&self.hashes).clear();
        lock(&self.records).clear();
        lock(&self.quota).clear();
    }

    /// Keep the quota units a commit left: `used` per (peer, window start).
    /// Windows older than the newest committed are forgotten.
    pub(crate) fn quota_committed(&self, used: impl IntoIterator<Item = ((String, i64), i64)>) {
        let mut quota = lock(&self.quota);
        for (key, units) in used {
            quota.insert(key, units);
        }
        if let Some(newest) = quota.keys().map(|(_, window)| *window).max() {
            quota.retain(|(_, window), _| *window == newest);
        }
    }

    /// The units `peer` had used in the window starting at `window` after
    /// this writer's last commit that claimed from it, if one did.
    pub(crate) fn quota_used(&self, peer: &str, window: i64) -> Option<i64> {
        lock(&self.quota).get(&(peer.to_owned(), window)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> JournalRecord {
        JournalRecord {
            seq,
            kind: 1,
            recorded_at_unix_ms: 0,
            body: vec![seq as u8],
        }
    }

    #[test]
    fn keeps_what_was_committed_and_starts_again_after_a_gap() {
        let recent = Recent::default();
        recent.committed(
            vec![record(5), record(6)],
            10,
            &[Hash([1; 32]), Hash([2; 32])],
        );
        assert_eq!(recent.record(6).map(|r| r.body), Some(vec![6]));
        assert_eq!(recent.record(4), None);
        let (found, missing) = recent.hashes(&[11, 12]);
        assert_eq!(found.get(&11), Some(&Hash([2; 32])));
        assert_eq!(missing, vec![12]);
        // Another process appended 7..9: what is kept no longer runs on.
        recent.committed(vec![record(9)], 20, &[]);
        assert_eq!(recent.record(5), None);
        assert_eq!(recent.record(9).map(|r| r.seq), Some(9));
        recent.clear();
        assert_eq!(recent.record(9), None);
    }
}
