//! Crash test: a child process appending under load (plain and claimed
//! appends) is killed with SIGKILL several times; after each kill every
//! acknowledged entry is present, with its exact bytes, sequence numbers
//! stay contiguous, and the log verifies: the stored Merkle tree's root is
//! the root recomputed from the entries, each acknowledged entry (a sample
//! when many) has an inclusion proof that verifies against it, and the log
//! is consistent with the one seen after the previous kill.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use credex_node::storage::Storage;
use credex_protocol::tlog::{
    EMPTY_ROOT, leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion,
};

/// Most acknowledged entries whose inclusion proofs are checked per run.
const PROOF_SAMPLE: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("credex.db");
    let mut acked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut previous = (0u64, EMPTY_ROOT);
    for run in 0..5u32 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
            .args([db.to_str().unwrap(), &run.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill at a different moment each run, once the database exists.
        let started = Instant::now();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                if parts.next() != Some("ACK") {
                    continue;
                }
                let seq: u64 = parts.next().unwrap().parse().unwrap();
                let body = hex::decode(parts.next().unwrap()).unwrap();
                got.push((seq, body));
            }
            got
        });
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let n = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
            if (n > 0 && started.elapsed() > Duration::from_millis(150 + 100 * u64::from(run)))
                || started.elapsed() > Duration::from_secs(20)
            {
                break;
            }
        }
        credex_tests::sigkill(&mut child);
        let got = reader.join().unwrap();
        assert!(
            !got.is_empty(),
            "run {run}: the child acknowledged nothing before the kill"
        );
        for (seq, body) in got {
            assert!(
                acked.insert(seq, body).is_none(),
                "run {run}: seq {seq} acknowledged twice"
            );
        }

        // Everything acknowledged so far is there, byte for byte.
        let storage = Storage::open_sqlite(&db).await.unwrap();
        let len = storage.journal_len().await.unwrap();
        let mut stored = BTreeMap::new();
        let mut leaves = Vec::new();
        let mut from = 0;
        while from < len {
            let page = storage.journal_range(from, 4096).await.unwrap();
            assert!(!page.is_empty());
            for r in page {
                assert_eq!(r.seq, from, "sequence numbers must be contiguous");
                from += 1;
                leaves.push(leaf_hash(&credex_journal::entry_bytes(
                    r.kind,
                    r.recorded_at_unix_ms,
                    &r.body,
                )));
                stored.insert(r.seq, r.body);
            }
        }
        for (seq, body) in &acked {
            assert_eq!(
                stored.get(seq),
                Some(body),
                "run {run}: acknowledged seq {seq} lost or changed"
            );
        }

        // The log verifies: stored tree = tree of the entries.
        let root = root_from_leaf_hashes(&leaves);
        let head = storage.tree_head();
        assert_eq!(head.size, len, "run {run}: tree size after reopening");
        assert_eq!(
            head.root, root,
            "run {run}: loaded root is not the entries' root"
        );
        assert_eq!(
            storage.tree_root(len).await.unwrap(),
            root,
            "run {run}: stored root is not the entries' root"
        );
        let step = acked.len().div_ceil(PROOF_SAMPLE).max(1);
        let sample = acked.keys().step_by(step).chain(acked.keys().last());
        for &seq in sample {
            let proof = storage.inclusion_proof(seq, len).await.unwrap();
            verify_inclusion(&leaves[seq as usize], seq, len, &proof, &root)
                .unwrap_or_else(|e| panic!("run {run}: inclusion of acknowledged {seq}: {e}"));
        }
        // Append-only across crashes: this log extends the previous one.
        let (old_size, old_root) = previous;
        let proof = storage.consistency_proof(old_size, len).await.unwrap();
        verify_consistency(old_size, len, &old_root, &root, &proof)
            .unwrap_or_else(|e| panic!("run {run}: not consistent with the log before it: {e}"));
        assert_eq!(storage.tree_root(old_size).await.unwrap(), old_root);
        previous = (len, root);
        storage.close().await;
    }
    assert!(
        acked.len() > 100,
        "too few appends to mean anything: {}",
        acked.len()
    );
}
