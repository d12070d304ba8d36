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
//! And it keeps the digests of the attachment parts this process saw
//! committed (decision 1180), so that a part already stored is not sent to
//! the writer with every attachment that shares it.
//!
//! Records and hashes are immutable once committed (stored hashes are append-only; a
//! record's bytes never change), so a hit is always right; a miss reads the
//! database as before. Filled only after a commit. Emptied by the `danger`
//! rewinds, the one way committed hashes are ever replaced.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use credex_protocol::tlog::Hash;

use super::JournalRecord;

/// Most tree hashes kept from the writer's commits (32 bytes each; at most
/// 4 MiB).
const MAX_HASHES: usize = 1 << 17;

/// Most tree hashes kept from reads of the database.
const MAX_READ_HASHES: usize = 1 << 12;

/// Most attachment parts remembered as stored.
const MAX_PARTS: usize = 1 << 12;

/// Most journal records kept (bodies are bounded by `MAX_BODY_LEN`).
const MAX_RECORDS: usize = 1024;

/// The writer's recent commits.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    hashes: Mutex<Hashes>,
    records: Mutex<VecDeque<JournalRecord>>,
    /// Units used per (peer, window start), as last committed here; only
    /// the newest window's are kept.
    quota: Mutex<HashMap<(String, i64), i64>>,
    /// Digests of attachment parts ([`super::attachment`]) this process saw
    /// committed: parts are never removed, so a part named here need not be
    /// sent to the writer again.
    parts: Mutex<HashSet<[u8; 32]>>,
}

/// A poisoned lock only means a panic elsewhere; the maps hold complete
/// entries, so the guard is recovered.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Tree hashes kept: the run the writer's commits wrote, by index, and the
/// older ones read from the database (a proof's left siblings, the same few
/// for a long while). Stored hashes are written in index order, so a
/// commit's hashes extend the run; a run that does not go on (another
/// process wrote in between) starts again.
#[derive(Debug, Default)]
struct Hashes {
    /// Index of `run[0]`.
    first: u64,
    run: VecDeque<Hash>,
    read: HashMap<u64, Hash>,
}

impl Hashes {
    fn extend(&mut self, first: u64, hashes: &[Hash]) {
        if first != self.first + self.run.len() as u64 {
            self.run.clear();
            self.first = first;
        }
        self.run.extend(hashes.iter().copied());
        let excess = self.run.len().saturating_sub(MAX_HASHES);
        self.run.drain(..excess);
        self.first += excess as u64;
    }

    fn insert_read(&mut self, index: u64, hash: Hash) {
        if self.read.len() >= MAX_READ_HASHES {
            self.read.clear();
        }
        self.read.insert(index, hash);
    }

    fn get(&self, index: u64) -> Option<Hash> {
        index
            .checked_sub(self.first)
            .and_then(|at| usize::try_from(at).ok())
            .and_then(|at| self.run.get(at).copied())
            .or_else(|| self.read.get(&index).copied())
    }
}

impl Recent {
    /// Keep what a commit wrote: `records` and the stored hashes from index
    /// `first_hash` on.
    pub(crate) fn committed(&self, records: Vec<JournalRecord>, first_hash: u64, hashes: &[Hash]) {
        lock(&self.hashes).extend(first_hash, hashes);
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

    /// Keep `hashes` (index, hash) read from the database.
    pub(crate) fn remember(&self, hashes: impl Iterator<Item = (u64, Hash)>) {
        let mut kept = lock(&self.hashes);
        for (index, hash) in hashes {
            kept.insert_read(index, hash);
        }
    }

    /// The kept hashes among `indexes`, and the indexes not kept.
    pub(crate) fn hashes(&self, indexes: &[u64]) -> (HashMap<u64, Hash>, Vec<u64>) {
        let kept = lock(&self.hashes);
        let mut found = HashMap::with_capacity(indexes.len());
        let mut missing = Vec::new();
        for &index in indexes {
            match kept.get(index) {
                Some(h) => {
                    found.insert(index, h);
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
        *lock(&self.hashes) = Hashes::default();
        lock(&self.records).clear();
        lock(&self.quota).clear();
        lock(&self.parts).clear();
    }

    /// Attachment parts `digests` were committed.
    pub(crate) fn parts_stored(&self, digests: Vec<[u8; 32]>) {
        if digests.is_empty() {
            return;
        }
        let mut parts = lock(&self.parts);
        if parts.len() + digests.len() > MAX_PARTS {
            parts.clear();
        }
        parts.extend(digests);
    }

    /// Whether this process saw attachment part `digest` committed.
    pub(crate) fn part_stored(&self, digest: &[u8; 32]) -> bool {
        lock(&self.parts).contains(digest)
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

    #[test]
    fn hashes_run_on_from_commit_to_commit_and_the_oldest_go_first() {
        let recent = Recent::default();
        let h = |i: u64| Hash([i as u8; 32]);
        let run: Vec<Hash> = (0..MAX_HASHES as u64 + 3).map(h).collect();
        recent.committed(Vec::new(), 0, &run[..10]);
        recent.committed(Vec::new(), 10, &run[10..]);
        // The run keeps its newest MAX_HASHES: the first three went.
        let (found, missing) = recent.hashes(&[2, 3, MAX_HASHES as u64 + 2]);
        assert_eq!(missing, vec![2]);
        assert_eq!(found.get(&3), Some(&h(3)));
        assert_eq!(
            found.get(&(MAX_HASHES as u64 + 2)),
            Some(&h(MAX_HASHES as u64 + 2))
        );
        // Hashes read from the database are kept beside the run.
        recent.remember([(1, Hash([9; 32]))].into_iter());
        assert_eq!(recent.hashes(&[1]).0.get(&1), Some(&Hash([9; 32])));
        // A commit that does not go on from the run starts it again.
        recent.committed(Vec::new(), 1_000_000, &[h(7)]);
        let (found, missing) = recent.hashes(&[3, 1_000_000, 1]);
        assert_eq!(missing, vec![3]);
        assert_eq!(found.len(), 2);
    }
}
