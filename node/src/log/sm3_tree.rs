//! The log's SM3 tree under `sm2-sm3` (decision 1100), as the checkpointer
//! follows it.
//!
//! The SM3 tree has the SHA-256 tree's leaves (the journal's entries) and
//! RFC 6962's structure with SM3; a checkpoint states its root in an
//! extension line. None of its hashes is stored in the journal's
//! transactions: the checkpointer keeps its right edge in memory (O(log
//! n) hashes) and, before each checkpoint,
//! reads the records appended since the last one from the journal and
//! hashes them. So the write path does no SM3 work and holds no lock for
//! it, and every process of a region computes the same root from the same
//! journal.
//!
//! It follows the SHA-256 tree's edge too, over the very bytes it reads,
//! and gives an SM3 root only when that SHA-256 root is the tree head's
//! being signed: the SM3 line then covers exactly the entries of the root
//! line. A journal that changed under it (a rewind, a restore) is read
//! again from its first record; if the roots still differ, nothing is
//! signed.
//!
//! After each checkpoint is stored, the SM3 edge at its size is kept in
//! flow state ([`Sm3Follower::keep`]), so that a start reads only the
//! records after it ([`Sm3Follower::resume`]). A kept edge is used only if
//! it gives the SM3 root that checkpoint states and the stored SHA-256
//! edge gives its root line. Without one, a start reads the whole journal
//! once before the first checkpoint (decision 1100 gives the cost).

use credex_protocol::tlog::{
    Checkpoint, CompactTree, HASH_SIZE, Hash, Note, Sm3CompactTree, leaf_hash, sm3_leaf_hash,
    tree_hash_indexes,
};

use super::LogError;
use crate::storage::{StateWrite, Storage, TreeHead};

/// The flow-state namespace and key of the kept SM3 edge: the tree size
/// (8 bytes, big-endian), then the SM3 roots of its perfect subtrees, left
/// to right.
const EDGE_NS: &str = "log.sm3-tree";
const EDGE_KEY: &str = "edge";

/// Journal records read per query while following.
const PAGE: u32 = 4096;

/// The SM3 tree of the journal's first records, and their SHA-256 tree.
#[derive(Debug, Default)]
pub struct Sm3Follower {
    sha256: CompactTree,
    sm3: Sm3CompactTree,
}

impl Sm3Follower {
    /// Following from the journal's first record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records followed so far.
    pub fn size(&self) -> u64 {
        self.sm3.size()
    }

    /// Following from where the edge kept last leaves off (a checkpoint
    /// this log signed), or from the first record if none is kept or it
    /// does not give that checkpoint's roots (said in a warning).
    pub async fn resume(storage: &Storage) -> Self {
        match Self::kept(storage).await {
            Ok(Some(follower)) => follower,
            Ok(None) => Self::new(),
            Err(e) => {
                tracing::warn!(error = %e, "the kept SM3 edge is not used; the journal is read from its first record");
                Self::new()
            }
        }
    }

    async fn kept(storage: &Storage) -> Result<Option<Self>, LogError> {
        let Some(bytes) = storage.state(EDGE_NS, EDGE_KEY).await? else {
            return Ok(None);
        };
        let bad = |detail: &str| LogError::Sm3Tree(format!("the kept edge: {detail}"));
        let (size, hashes) = bytes
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("shorter than its size"))?;
        let size = u64::from_be_bytes(*size);
        let frontier = hashes
            .chunks(HASH_SIZE)
            .map(Hash::from_slice)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("not whole hashes"))?;
        let sm3 = Sm3CompactTree::from_frontier(size, frontier)
            .ok_or_else(|| bad("not as many hashes as its size has perfect subtrees"))?;
        let note = storage
            .checkpoint(size)
            .await?
            .ok_or_else(|| bad("no checkpoint of its size is stored"))?;
        let checkpoint = Note::parse(note.as_bytes())
            .ok()
            .and_then(|n| Checkpoint::parse(n.text()).ok())
            .ok_or_else(|| bad("the checkpoint of its size does not parse"))?;
        if checkpoint.sm3_root().ok().flatten() != Some(sm3.root()) {
            return Err(bad("not the SM3 root the checkpoint of its size states"));
        }
        let indexes = tree_hash_indexes(size).map_err(|e| bad(&e.to_string()))?;
        let hashes = storage.read_tree_hashes(&indexes).await?;
        let sha256 = CompactTree::from_frontier(size, hashes)
            .filter(|tree| tree.root() == *checkpoint.root())
            .ok_or_else(|| bad("the stored SHA-256 tree is not the checkpoint's"))?;
        Ok(Some(Sm3Follower { sha256, sm3 }))
    }

    /// The SM3 edge followed so far, to keep once the checkpoint of
    /// [`Self::size`] is stored.
    pub fn edge(&self) -> Sm3Edge {
        let mut value = Vec::with_capacity(8 + HASH_SIZE * self.sm3.frontier().len());
        value.extend_from_slice(&self.size().to_be_bytes());
        for hash in self.sm3.frontier() {
            value.extend_from_slice(hash.as_bytes());
        }
        Sm3Edge(value)
    }

    /// The SM3 root of the journal's first `head.size` records, whose
    /// SHA-256 root must be `head.root`. Reads the records not followed
    /// yet. Not cancel-safe: a cancelled call may leave it part way, and
    /// the next call goes on from there (or starts again if the roots
    /// then differ).
    pub async fn root_at(&mut self, storage: &Storage, head: TreeHead) -> Result<Hash, LogError> {
        if self.size() > head.size {
            // The journal is shorter than what was followed (rewound).
            *self = Self::new();
        }
        if self.follow(storage, head.size).await? == head.root {
            return Ok(self.sm3.root());
        }
        // What was followed is not the journal's prefix any more: read it
        // all again.
        *self = Self::new();
        let sha256 = self.follow(storage, head.size).await?;
        if sha256 == head.root {
            return Ok(self.sm3.root());
        }
        Err(LogError::Sm3Tree(format!(
            "the journal's first {} records hash to {}, not to the tree head's root {}: \
             no SM3 root is stated for them",
            head.size,
            sha256.to_hex(),
            head.root.to_hex()
        )))
    }

    /// Read and hash the records from [`Self::size`] up to `size`;
    /// returns the SHA-256 root of what was followed.
    async fn follow(&mut self, storage: &Storage, size: u64) -> Result<Hash, LogError> {
        while self.size() < size {
            let from = self.size();
            let want = u32::try_from(size - from).unwrap_or(PAGE).min(PAGE);
            let records = storage.journal_range(from, want).await?;
            if records.is_empty() {
                return Err(LogError::Sm3Tree(format!(
                    "journal record {from} is missing (the tree head has {size})"
                )));
            }
            for (record, seq) in records.iter().zip(from..size) {
                if record.seq != seq {
                    return Err(LogError::Sm3Tree(format!(
                        "journal record {seq} is missing (record {} follows {})",
                        record.seq,
                        seq.saturating_sub(1)
                    )));
                }
                let entry = credex_journal::entry_bytes(
                    record.kind,
                    record.recorded_at_unix_ms,
                    &record.body,
                );
                self.sha256.push(leaf_hash(&entry));
                self.sm3.push(sm3_leaf_hash(&entry));
            }
        }
        Ok(self.sha256.root())
    }
}

/// The SM3 tree's right edge at a checkpoint's size, encoded to be kept.
#[derive(Debug, Clone)]
pub struct Sm3Edge(Vec<u8>);

impl Sm3Edge {
    /// Keep it for [`Sm3Follower::resume`], replacing the one kept before.
    /// Call it once the checkpoint of its size is stored.
    pub async fn keep(self, storage: &Storage) -> Result<(), LogError> {
        storage
            .write_state(vec![StateWrite::put(EDGE_NS, EDGE_KEY, self.0)])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use credex_protocol::tlog::sm3_root_from_leaf_hashes;

    #[tokio::test]
    async fn follows_the_journal_and_refuses_a_head_of_other_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&tmp.path().join("log.sqlite"))
            .await
            .unwrap();
        let mut follower = Sm3Follower::new();
        let mut leaves = Vec::new();
        for round in 0..3u8 {
            for i in 0..5u8 {
                let seq = storage.append(7, vec![round, i]).await.unwrap();
                let record = storage.journal_range(seq, 1).await.unwrap().remove(0);
                leaves.push(sm3_leaf_hash(&credex_journal::entry_bytes(
                    record.kind,
                    record.recorded_at_unix_ms,
                    &record.body,
                )));
            }
            let head = storage.tree_head();
            let root = follower.root_at(&storage, head).await.unwrap();
            assert_eq!(root, sm3_root_from_leaf_hashes(&leaves));
            assert_eq!(follower.size(), head.size);
        }
        // A head whose SHA-256 root is not the journal's: no SM3 root.
        let head = storage.tree_head();
        let forged = TreeHead {
            size: head.size,
            root: Hash([7; 32]),
        };
        assert!(matches!(
            follower.root_at(&storage, forged).await,
            Err(LogError::Sm3Tree(_))
        ));
        // An earlier head (a rewound follower) reads the prefix again.
        let earlier = TreeHead {
            size: 5,
            root: storage.tree_root(5).await.unwrap(),
        };
        let root = follower.root_at(&storage, earlier).await.unwrap();
        assert_eq!(root, sm3_root_from_leaf_hashes(&leaves[..5]));
        storage.close().await;
    }

    #[tokio::test]
    async fn a_start_resumes_from_the_edge_kept_with_a_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&tmp.path().join("log.sqlite"))
            .await
            .unwrap();
        let key = crate::log::tests::log_key(&crate::log::tests::sm2_node());
        for i in 0..11u8 {
            storage.append(7, vec![i]).await.unwrap();
        }
        let mut follower = Sm3Follower::new();
        let head = storage.tree_head();
        let sm3_root = follower.root_at(&storage, head).await.unwrap();
        let note = key.sign(head.size, head.root, Some(&sm3_root)).unwrap();
        // Nothing kept yet: from the first record.
        assert_eq!(Sm3Follower::resume(&storage).await.size(), 0);
        storage.store_checkpoint(head.size, note).await.unwrap();
        follower.edge().keep(&storage).await.unwrap();
        let mut resumed = Sm3Follower::resume(&storage).await;
        assert_eq!(resumed.size(), 11);
        for i in 0..3u8 {
            storage.append(8, vec![i]).await.unwrap();
        }
        let later = storage.tree_head();
        assert_eq!(
            resumed.root_at(&storage, later).await.unwrap(),
            follower.root_at(&storage, later).await.unwrap()
        );
        // An edge that does not give the checkpoint's SM3 root is not used.
        let mut wrong = follower.edge();
        let last = wrong.0.len() - 1;
        wrong.0[last] ^= 1;
        wrong.keep(&storage).await.unwrap();
        assert_eq!(Sm3Follower::resume(&storage).await.size(), 0);
        // Nor one of a size no checkpoint was stored at.
        follower.edge().keep(&storage).await.unwrap();
        assert_eq!(Sm3Follower::resume(&storage).await.size(), 0);
        storage.close().await;
    }

    /// What following costs after a start (decision 1100). 64 writers
    /// append `CREDEX_SM3_FOLLOW_RECORDS` (default 10^6) records of 256
    /// bytes; then the journal is read once alone, and once followed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: cargo test -p credex-node --release --lib -- --ignored --nocapture cost_of_following"]
    async fn cost_of_following_the_journal_after_a_start() {
        let records: u64 = std::env::var("CREDEX_SM3_FOLLOW_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&tmp.path().join("log.sqlite"))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let writers: Vec<_> = (0..64u64)
            .map(|w| {
                let storage = storage.clone();
                tokio::spawn(async move {
                    for i in (w..records).step_by(64) {
                        storage.append(7, vec![(i % 251) as u8; 256]).await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let head = storage.tree_head();
        println!("appended {} records in {:?}", head.size, started.elapsed());
        let started = std::time::Instant::now();
        let mut from = 0;
        while from < head.size {
            from += storage.journal_range(from, PAGE).await.unwrap().len() as u64;
        }
        let read = started.elapsed();
        let started = std::time::Instant::now();
        let mut follower = Sm3Follower::new();
        follower.root_at(&storage, head).await.unwrap();
        let followed = started.elapsed();
        println!(
            "{} records: read alone {read:?}; read and followed (SHA-256 and SM3) {followed:?}",
            head.size
        );
        storage.close().await;
    }
}
