//! Crash test: a child process appending under load is killed with SIGKILL
//! several times; after each kill every acknowledged entry is present, with
//! its exact bytes, and sequence numbers stay contiguous.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use credex_node::storage::Storage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("credex.db");
    let mut acked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
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
        // SIGKILL: no destructors, no flush, no clean close.
        assert!(
            Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let _ = child.wait();
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
        let mut from = 0;
        while from < len {
            let page = storage.journal_range(from, 4096).await.unwrap();
            assert!(!page.is_empty());
            for r in page {
                assert_eq!(r.seq, from, "sequence numbers must be contiguous");
                from += 1;
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
        storage.close().await;
    }
    assert!(
        acked.len() > 100,
        "too few appends to mean anything: {}",
        acked.len()
    );
}
