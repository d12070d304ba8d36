//! The storage test suite, run against both backends.
//!
//! Every test is an async fn taking a [`Store`] (which opens and reopens
//! [`Storage`] handles on one store); `both_backends!` runs it once on an
//! SQLite file in a temporary directory and once on PostgreSQL, in a fresh
//! schema that is dropped afterwards.
//!
//! PostgreSQL comes from `CREDEX_TEST_POSTGRES_URL`:
//!
//! ```text
//! export CREDEX_TEST_POSTGRES_URL=$(bash scripts/postgres-setup.sh)   # as root
//! cargo test -p credex-node --test storage_suite
//! ```
//!
//! Without it the PostgreSQL tests fail, unless `CREDEX_SKIP_POSTGRES=1`.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use credex_node::storage::{
    AccessClaim, Attachment, Backend, ClaimOutcome, Clock, EntryOnClaim, EvidenceRecord,
    JournalRecord, MAX_ATTACHMENT_LEN, MAX_BODY_LEN, MAX_COSIGNATURES, MAX_EVIDENCE_DETAIL_LEN,
    MAX_RECORDS_PER_QUERY, MAX_STATE_SCAN, MAX_SUBJECTS_PER_READ, MAX_TREE_HASH_READ, PeerRecord,
    PeerSighting, QuotaClaim, RecordRow, StateWrite, Storage, StorageError, StorageOptions,
    StoredRecord, SubjectAlias, SubjectCounts, SubjectRow, TreeHead, danger,
};
use credex_protocol::query::SubjectPseudonym;
use credex_protocol::tlog::{
    EMPTY_ROOT, Hash, leaf_hash, root_from_leaf_hashes, stored_hash_count, stored_hash_index,
    verify_consistency, verify_inclusion,
};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Executor};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// The tests

/// Appends come back in order with contiguous seqs from 0; ranges, the
/// length and the recorded time match; an oversized body is refused without
/// consuming a seq.
async fn append_and_read_back(store: Store) {
    let s = store
        .open_with(StorageOptions {
            clock: Arc::new(FixedClock(1_700_000_000_123)),
            ..StorageOptions::default()
        })
        .await;
    assert_eq!(s.journal_len().await.expect("len"), 0);
    assert!(s.journal_range(0, 10).await.expect("range").is_empty());

    let written: Vec<(u16, Vec<u8>)> = (0u16..12)
        .map(|i| match i {
            0 => (0, Vec::new()),
            1 => (u16::MAX, vec![0; 1000]),
            2 => (7, (0..=255).collect()),
            _ => (i * 100, format!("record {i}").into_bytes()),
        })
        .collect();
    for (i, (kind, body)) in written.iter().enumerate() {
        let seq = s.append(*kind, body.clone()).await.expect("append");
        assert_eq!(seq, i as u64, "seqs are contiguous from 0");
    }
    let n = written.len() as u64;
    assert_eq!(s.journal_len().await.expect("len"), n);

    let expected: Vec<JournalRecord> = written
        .iter()
        .zip(0u64..)
        .map(|((kind, body), seq)| JournalRecord {
            seq,
            kind: *kind,
            recorded_at_unix_ms: 1_700_000_000_123,
            body: body.clone(),
        })
        .collect();
    assert_eq!(s.journal_range(0, 100).await.expect("range"), expected);
    assert_eq!(
        s.journal_range(3, 4).await.expect("range"),
        expected[3..7].to_vec()
    );
    assert_eq!(
        s.journal_range(10, 100).await.expect("range"),
        expected[10..].to_vec()
    );
    assert!(s.journal_range(n, 5).await.expect("range").is_empty());
    assert!(s.journal_range(0, 0).await.expect("range").is_empty());
    // One kind of entry, within bounds.
    let of_kind = |from, below, kind| {
        let s = s.clone();
        async move {
            s.journal_of_kind(from, below, kind, 100)
                .await
                .expect("kind")
        }
    };
    assert_eq!(of_kind(0, n, 7).await, expected[2..3].to_vec());
    assert_eq!(of_kind(0, n, u16::MAX).await, expected[1..2].to_vec());
    assert_eq!(of_kind(0, n, 300).await, expected[3..4].to_vec());
    assert!(of_kind(3, n, 7).await.is_empty(), "from is inclusive");
    assert!(of_kind(0, 2, 7).await.is_empty(), "below is exclusive");
    assert!(of_kind(0, n, 8).await.is_empty(), "no entry of kind 8");
    assert!(
        s.journal_range(u64::MAX, 1)
            .await
            .expect("range")
            .is_empty()
    );

    let err = s
        .append(1, vec![0; MAX_BODY_LEN + 1])
        .await
        .expect_err("oversized body");
    assert!(
        matches!(err, StorageError::BodyTooLarge { len, max } if len == MAX_BODY_LEN + 1 && max == MAX_BODY_LEN),
        "{err}"
    );
    assert_eq!(
        s.append(2, vec![0xab; MAX_BODY_LEN])
            .await
            .expect("max body"),
        n,
        "a refused append consumes no seq"
    );
    let last = s.journal_range(n, 1).await.expect("range");
    assert_eq!(last[0].body.len(), MAX_BODY_LEN);
    s.close().await;
}

/// 2,000 appends from 64 tasks: distinct contiguous seqs, every body where
/// its seq says, and fewer commits than appends (group commit happened).
async fn concurrent_appends_are_batched(store: Store) {
    const TASKS: usize = 64;
    const TOTAL: usize = 2000;
    let s = store.open().await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in (t..TOTAL).step_by(TASKS) {
                    let seq = s.append(kind_of(i), body_of(i)).await.expect("append");
                    seqs.push((seq, i));
                }
                seqs
            })
        })
        .collect();
    let mut by_seq = vec![None; TOTAL];
    for task in tasks {
        for (seq, i) in task.await.expect("task") {
            let slot = by_seq
                .get_mut(usize::try_from(seq).expect("seq fits"))
                .unwrap_or_else(|| panic!("seq {seq} out of range 0..{TOTAL}"));
            assert!(slot.is_none(), "seq {seq} handed out twice");
            *slot = Some(i);
        }
    }
    // 2,000 distinct seqs below 2,000: exactly 0..2000.
    assert!(by_seq.iter().all(Option::is_some));
    assert_eq!(s.journal_len().await.expect("len"), TOTAL as u64);

    let mut read = Vec::new();
    while read.len() < TOTAL {
        let page = s
            .journal_range(read.len() as u64, 500)
            .await
            .expect("range");
        assert!(!page.is_empty(), "journal ended at {}", read.len());
        read.extend(page);
    }
    for (record, i) in read.iter().zip(&by_seq) {
        let i = i.expect("checked above");
        assert_eq!(record.kind, kind_of(i), "kind at seq {}", record.seq);
        assert_eq!(record.body, body_of(i), "body at seq {}", record.seq);
    }

    let stats = s.stats();
    eprintln!("{:?}: {stats:?}", store.backend());
    assert_eq!(stats.accepted, TOTAL as u64);
    assert_eq!(stats.appends, TOTAL as u64);
    assert_eq!(stats.failed_batches, 0);
    assert!(
        stats.commits >= 1 && stats.commits < stats.appends,
        "no group commit: {stats:?}"
    );
    assert!(stats.largest_batch > 1, "{stats:?}");
    s.close().await;
}

/// Records survive close and reopen, and seqs continue after them.
async fn data_survives_reopen(store: Store) {
    let s = store.open().await;
    for i in 0..5 {
        assert_eq!(
            s.append(kind_of(i), body_of(i)).await.expect("append"),
            i as u64
        );
    }
    s.close().await;

    let s = store.open().await;
    assert_eq!(s.journal_len().await.expect("len"), 5);
    let bodies: Vec<_> = s
        .journal_range(0, 10)
        .await
        .expect("range")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, (0..5).map(body_of).collect::<Vec<_>>());
    assert_eq!(s.append(1, b"sixth".to_vec()).await.expect("append"), 5);
    s.close().await;

    let s = store.open().await;
    assert_eq!(s.journal_len().await.expect("len"), 6);
    s.close().await;
}

/// Opening the same store again re-runs the migrations harmlessly, and two
/// handles writing one journal at once (as two node processes would) still
/// get distinct contiguous seqs.
async fn migrations_are_idempotent(store: Store) {
    let a = store.open().await;
    let b = store.open().await;
    assert_eq!(a.append(1, b"from a".to_vec()).await.expect("append a"), 0);
    assert_eq!(b.append(2, b"from b".to_vec()).await.expect("append b"), 1);

    const EACH: usize = 200;
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    seqs.push(s.append(3, body_of(i)).await.expect("append"));
                }
                seqs
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for w in writers {
        seqs.extend(w.await.expect("writer"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (2..2 + 2 * EACH as u64).collect::<Vec<_>>());
    a.close().await;
    b.close().await;

    let c = store.open().await;
    assert_eq!(c.journal_len().await.expect("len"), 2 + 2 * EACH as u64);
    c.close().await;
}

/// `record_peer` inserts, then upserts by fingerprint: first_seen is kept,
/// everything else (capabilities included) follows the latest sighting.
async fn record_peer_upserts(store: Store) {
    let s = store.open().await;
    assert!(s.peers().await.expect("peers").is_empty());

    let gy = PeerSighting {
        region: "520000".into(),
        node: "gy-1".into(),
        fingerprint: [0x52; 32],
        protocol_version: 1,
        capabilities: vec!["query".into(), "receipt".into()],
        seen_at_unix_ms: 1_000,
    };
    let cq = PeerSighting {
        region: "500000".into(),
        node: "cq-1".into(),
        fingerprint: [0x50; 32],
        protocol_version: 1,
        capabilities: Vec::new(),
        seen_at_unix_ms: 1_500,
    };
    s.record_peer(&gy).await.expect("record gy");
    s.record_peer(&cq).await.expect("record cq");
    let gy_again = PeerSighting {
        node: "gy-2".into(),
        protocol_version: 2,
        capabilities: vec!["upward".into(), "query".into(), "list-exchange".into()],
        seen_at_unix_ms: 2_000,
        ..gy.clone()
    };
    s.record_peer(&gy_again).await.expect("record gy again");

    let expected = vec![
        PeerRecord {
            region: "500000".into(),
            node: "cq-1".into(),
            fingerprint: [0x50; 32],
            protocol_version: 1,
            capabilities: Vec::new(),
            first_seen_unix_ms: 1_500,
            last_seen_unix_ms: 1_500,
        },
        PeerRecord {
            region: "520000".into(),
            node: "gy-2".into(),
            fingerprint: [0x52; 32],
            protocol_version: 2,
            capabilities: vec!["upward".into(), "query".into(), "list-exchange".into()],
            first_seen_unix_ms: 1_000,
            last_seen_unix_ms: 2_000,
        },
    ];
    assert_eq!(s.peers().await.expect("peers"), expected);

    for (bad, what) in [
        (
            PeerSighting {
                region: "52000x".into(),
                ..gy.clone()
            },
            "region",
        ),
        (
            PeerSighting {
                node: String::new(),
                ..gy.clone()
            },
            "node name",
        ),
        (
            PeerSighting {
                capabilities: vec![String::new()],
                ..gy.clone()
            },
            "capability",
        ),
    ] {
        let err = s.record_peer(&bad).await.expect_err(what);
        assert!(
            matches!(err, StorageError::InvalidPeer { .. }) && err.to_string().contains(what),
            "{err}"
        );
    }
    s.close().await;

    let s = store.open().await;
    assert_eq!(s.peers().await.expect("peers after reopen"), expected);
    s.close().await;
}

/// With the writer stuck behind another connection's write lock, the queue
/// fills: `try_append` says `QueueFull`, `append` waits; once the lock goes,
/// everything accepted is written in order.
async fn full_queue_pushes_back(store: Store) {
    const CAPACITY: usize = 4;
    const MAX_BATCH: usize = 2;
    let s = store
        .open_with(StorageOptions {
            queue_capacity: CAPACITY,
            max_batch: MAX_BATCH,
            max_batch_delay: Duration::ZERO,
            ..StorageOptions::default()
        })
        .await;
    let lock = store.hold_write_lock().await;

    let mut pending = Vec::new();
    let mut refusal = None;
    for i in 0..1000 {
        match s.try_append(1, body_of(i)) {
            Ok(p) => pending.push(p),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
        // Let the writer pick up what it can: it must still get stuck.
        tokio::task::yield_now().await;
    }
    let refusal = refusal.expect("the queue never reported full");
    assert!(
        matches!(
            refusal,
            StorageError::QueueFull {
                capacity: CAPACITY,
                ..
            }
        ),
        "{refusal}"
    );
    assert!(refusal.to_string().contains(s.location()), "{refusal}");
    // The queue, plus at most one batch taken by the stuck writer.
    assert!(
        (CAPACITY..=CAPACITY + MAX_BATCH).contains(&pending.len()),
        "{} accepted",
        pending.len()
    );
    // `append` waits for room instead (dropping it unqueued).
    assert!(
        tokio::time::timeout(Duration::from_millis(100), s.append(1, b"waits".to_vec()))
            .await
            .is_err(),
        "append did not wait on a full queue"
    );

    lock.release().await;
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.await.expect("accepted append"), i as u64);
    }
    assert_eq!(s.stats().failed_batches, 0);
    assert!(s.try_append(1, b"room again".to_vec()).is_ok());
    s.close().await;
}

/// Bad inputs give errors that say what and where, and never a password.
async fn bad_inputs_are_explained(store: Store) {
    for url in [
        "mysql://root@localhost/x",
        "sqlite:",
        "sqlite::memory:",
        "/plain/path",
    ] {
        let err = Storage::open(url).await.expect_err(url);
        assert!(
            matches!(err, StorageError::InvalidUrl { .. }),
            "{url}: {err}"
        );
    }
    let err = store
        .try_open_with(StorageOptions {
            queue_capacity: 0,
            ..StorageOptions::default()
        })
        .await
        .expect_err("zero queue");
    assert!(err.to_string().contains("queue_capacity"), "{err}");

    match &store.target {
        Target::Sqlite { dir, .. } => {
            // A path under a regular file (unwritable even for root).
            let file = dir.path().join("not-a-directory");
            std::fs::write(&file, b"x").expect("write file");
            let path = file.join("node").join("credex.sqlite");
            let err = Storage::open_sqlite(&path).await.expect_err("under a file");
            assert!(matches!(err, StorageError::CreateDir { .. }), "{err}");
            assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");

            let path = Path::new("/proc/credex-does-not-exist/credex.sqlite");
            let err = Storage::open(&format!("sqlite://{}", path.display()))
                .await
                .expect_err("under /proc");
            assert!(
                err.to_string().contains("/proc/credex-does-not-exist"),
                "{err}"
            );

            // A directory where the file should be.
            let err = Storage::open_sqlite(dir.path())
                .await
                .expect_err("a directory");
            assert!(matches!(err, StorageError::OpenSqlite { .. }), "{err}");
            assert!(
                err.to_string().contains(&*dir.path().to_string_lossy()),
                "{err}"
            );
        }
        Target::Postgres { url, .. } => {
            const SECRET: &str = "hunter2-not-the-password";
            let bad_url = format!("postgres://credex:{SECRET}@127.0.0.1:notaport/credex_test");
            let err = Storage::open(&bad_url).await.expect_err("bad port");
            assert!(matches!(err, StorageError::InvalidUrl { .. }), "{err}");
            assert!(!err.to_string().contains(SECRET), "{err}");
            assert!(err.to_string().contains("credex:***@127.0.0.1"), "{err}");

            for schema in ["Bad-Name", "pg_catalog", "", "1x", "a;drop"] {
                let err = Storage::open_postgres(url, Some(schema))
                    .await
                    .expect_err(schema);
                assert!(
                    matches!(err, StorageError::InvalidSchemaName { .. }),
                    "{schema}: {err}"
                );
            }

            let quick = StorageOptions {
                connect_timeout: Duration::from_secs(3),
                ..StorageOptions::default()
            };
            let nobody_listens = format!("postgres://credex:{SECRET}@127.0.0.1:1/credex_test");
            let err = Storage::open_postgres_with(&nobody_listens, Some("x"), quick.clone())
                .await
                .expect_err("nothing listens");
            assert!(matches!(err, StorageError::ConnectPostgres { .. }), "{err}");
            assert!(err.to_string().contains("127.0.0.1:1/credex_test"), "{err}");
            assert!(!err.to_string().contains(SECRET), "{err}");

            let real: PgConnectOptions = url.parse().expect("test URL");
            let wrong_password = format!(
                "postgres://{}:{SECRET}@{}:{}/{}",
                real.get_username(),
                real.get_host(),
                real.get_port(),
                real.get_database().unwrap_or("postgres"),
            );
            let err = Storage::open_postgres_with(&wrong_password, None, quick)
                .await
                .expect_err("wrong password");
            assert!(matches!(err, StorageError::ConnectPostgres { .. }), "{err}");
            assert!(err.to_string().contains("password"), "{err}");
            assert!(!err.to_string().contains(SECRET), "{err}");
        }
    }
}

/// `close` lets every queued append finish before it returns, refuses new
/// ones, and what it drained is there after reopening.
async fn close_drains_the_queue(store: Store) {
    const N: usize = 300;
    let s = store.open().await;
    let lock = store.hold_write_lock().await;
    let appenders: Vec<_> = (0..N)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { (i, s.append(kind_of(i), body_of(i)).await) })
        })
        .collect();
    wait_until("all appends queued", || s.stats().accepted == N as u64).await;
    assert_eq!(s.stats().appends, 0, "nothing can commit under the lock");

    let closer = tokio::spawn({
        let s = s.clone();
        async move { s.close().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!closer.is_finished(), "close returned with appends queued");
    let err = s
        .append(1, b"late".to_vec())
        .await
        .expect_err("after close");
    assert!(matches!(err, StorageError::Closed { .. }), "{err}");
    assert!(matches!(
        s.try_append(1, b"late".to_vec()),
        Err(StorageError::Closed { .. })
    ));

    lock.release().await;
    closer.await.expect("close");
    let mut by_seq = vec![None; N];
    for a in appenders {
        let (i, result) = a.await.expect("appender");
        let seq = result.unwrap_or_else(|e| panic!("append {i} was dropped by close: {e}"));
        by_seq[usize::try_from(seq).expect("seq fits")] = Some(i);
    }
    let err = s.journal_len().await.expect_err("reads after close");
    assert!(matches!(err, StorageError::Read { .. }), "{err}");

    let s = store.open().await;
    assert_eq!(s.journal_len().await.expect("len"), N as u64);
    for record in s.journal_range(0, N as u32).await.expect("range") {
        let i = by_seq[record.seq as usize].expect("every seq answered");
        assert_eq!(record.body, body_of(i));
    }
    s.close().await;
}

/// A batch that fails to commit fails every caller in it and consumes no
/// seq. (A test trigger, installed with `danger::execute_raw`, rejects one
/// record of the batch.)
async fn failed_batch_consumes_no_seq(store: Store) {
    let s = store
        .open_with(StorageOptions {
            max_batch_delay: Duration::ZERO,
            ..StorageOptions::default()
        })
        .await;
    assert_eq!(s.append(1, b"before".to_vec()).await.expect("append"), 0);
    let install = match store.backend() {
        Backend::Sqlite => {
            "CREATE TRIGGER reject_999 BEFORE INSERT ON journal WHEN NEW.kind = 999 \
             BEGIN SELECT RAISE(ABORT, 'kind 999 rejected by the test trigger'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION reject_999() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.kind = 999 THEN \
             RAISE EXCEPTION 'kind 999 rejected by the test trigger'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER reject_999 BEFORE INSERT ON journal \
             FOR EACH ROW EXECUTE FUNCTION reject_999();"
        }
    };
    danger::execute_raw(&s, install)
        .await
        .expect("install trigger");

    // Get a blocker stuck in the writer, so the next three queue up and
    // form one batch.
    let lock = store.hold_write_lock().await;
    let blocker = s.try_append(1, b"blocker".to_vec()).expect("queue");
    wait_until("blocker taken by the writer", || s.stats().queued == 0).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let doomed = [
        s.try_append(1, b"a".to_vec()).expect("queue"),
        s.try_append(999, b"poison".to_vec()).expect("queue"),
        s.try_append(1, b"c".to_vec()).expect("queue"),
    ];
    lock.release().await;

    let blocker = blocker.await;
    let mut outcomes = Vec::new();
    for d in doomed {
        outcomes.push(d.await);
    }
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert!(matches!(e, StorageError::Write { .. }), "{e}");
            assert!(e.to_string().contains("kind 999 rejected"), "{e}");
        }
    }
    assert!(outcomes[1].is_err(), "the poisoned record was committed");
    if blocker.is_ok() {
        // The intended schedule: a, poison and c formed one batch.
        assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
        assert_eq!(s.stats().failed_batches, 1);
    }

    let uninstall = match store.backend() {
        Backend::Sqlite => "DROP TRIGGER reject_999",
        Backend::Postgres => "DROP TRIGGER reject_999 ON journal",
    };
    danger::execute_raw(&s, uninstall)
        .await
        .expect("drop trigger");
    let survivors: Vec<Vec<u8>> = std::iter::once(b"before".to_vec())
        .chain(blocker.ok().map(|_| b"blocker".to_vec()))
        .chain(
            outcomes
                .iter()
                .zip([b"a".to_vec(), b"poison".to_vec(), b"c".to_vec()])
                .filter(|(o, _)| o.is_ok())
                .map(|(_, body)| body),
        )
        .collect();
    let next = s.append(1, b"after".to_vec()).await.expect("append after");
    assert_eq!(next, survivors.len() as u64, "a failed batch consumed seqs");
    let bodies: Vec<_> = s
        .journal_range(0, 100)
        .await
        .expect("range")
        .into_iter()
        .map(|r| r.body)
        .collect();
    let mut expected = survivors;
    expected.push(b"after".to_vec());
    assert_eq!(bodies, expected);
    s.close().await;
}

/// `danger::execute_raw` edits the store behind the node's back; rows the
/// store could never have written are reported as corrupt, not passed on.
async fn tampering_is_visible(store: Store) {
    let s = store.open().await;
    for i in 0..3 {
        s.append(kind_of(i), body_of(i)).await.expect("append");
    }
    let rewrite = match store.backend() {
        Backend::Sqlite => "UPDATE journal SET body = X'deadbeef' WHERE seq = 1",
        Backend::Postgres => "UPDATE journal SET body = '\\xdeadbeef'::bytea WHERE seq = 1",
    };
    assert_eq!(danger::execute_raw(&s, rewrite).await.expect("rewrite"), 1);
    let records = s.journal_range(0, 10).await.expect("range");
    assert_eq!(records[1].body, vec![0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(records[0].body, body_of(0));

    let break_kind = match store.backend() {
        Backend::Sqlite => {
            "PRAGMA ignore_check_constraints = ON; \
             UPDATE journal SET kind = 70000 WHERE seq = 2; \
             PRAGMA ignore_check_constraints = OFF;"
        }
        Backend::Postgres => {
            "ALTER TABLE journal DROP CONSTRAINT journal_kind_range; \
             UPDATE journal SET kind = 70000 WHERE seq = 2;"
        }
    };
    danger::execute_raw(&s, break_kind)
        .await
        .expect("break kind");
    let err = s.journal_range(0, 10).await.expect_err("corrupt kind");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("kind 70000"), "{err}");
    assert_eq!(s.journal_range(0, 2).await.expect("intact part").len(), 2);

    let err = danger::execute_raw(&s, "THIS IS NOT SQL")
        .await
        .expect_err("bad SQL");
    assert!(matches!(err, StorageError::Write { .. }), "{err}");
    s.close().await;
}

/// Two writers of one store (two processes of a region, or a second
/// process on one SQLite file): a nonce either of them claimed is a replay
/// for the other, however their claims interleave. The SQLite writer
/// answers a query's nonce from memory (decision 1210), so each must load
/// them again once the other claimed; the test fails if it answers from a
/// stale set. Long-lived nonces (message ids) and short-lived ones share
/// one namespace.
async fn nonces_claimed_by_another_writer_are_replays(store: Store) {
    let a = store.open().await;
    let b = store.open().await;
    let claim_in = |s: &Storage, n: usize| {
        let s = s.clone();
        async move {
            s.append_claimed(QUERY_KIND, claim("440000", nonce(n)), None, move |o| {
                decision_body(n, o)
            })
            .await
            .expect("claimed append")
            .1
        }
    };
    let long_lived_in = |s: &Storage, n: usize| {
        let s = s.clone();
        async move {
            s.append_claimed(
                QUERY_KIND,
                long_lived_claim("440000", nonce(n)),
                None,
                move |o| decision_body(n, o),
            )
            .await
            .expect("claimed append")
            .1
        }
    };
    let mut outcomes = Vec::new();
    for (writer, n) in [
        (&a, 1),
        (&b, 1),
        (&b, 2),
        (&a, 2),
        (&a, 3),
        (&a, 4),
        (&b, 3),
        (&b, 4),
    ] {
        outcomes.push(claim_in(writer, n).await);
    }
    use ClaimOutcome::{Claimed, Replay};
    assert_eq!(
        outcomes,
        [
            Claimed, Replay, Claimed, Replay, Claimed, Claimed, Replay, Replay
        ]
    );
    // Each writer's claims after a reopen: the nonces come from the store.
    b.close().await;
    let b = store.open().await;
    assert_eq!(claim_in(&b, 4).await, Replay);
    assert_eq!(claim_in(&b, 5).await, Claimed);
    assert_eq!(claim_in(&a, 5).await, Replay);
    // One namespace: a message id is a replay of a query's nonce and back.
    assert_eq!(long_lived_in(&a, 5).await, Replay);
    assert_eq!(long_lived_in(&a, 6).await, Claimed);
    assert_eq!(claim_in(&b, 6).await, Replay);
    assert_eq!(long_lived_in(&b, 6).await, Replay);
    a.close().await;
    b.close().await;
}

/// 64 concurrent claims of one nonce: exactly one is `Claimed`, the others
/// are replays, and every caller's journal record holds the body its
/// `build` made for its own outcome. The nonce is per requesting region.
async fn same_nonce_is_claimed_once(store: Store) {
    const CALLERS: usize = 64;
    let s = store.open().await;
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let answer = s
                    .append_claimed(QUERY_KIND, claim("500000", nonce(7)), None, move |o| {
                        decision_body(i, o)
                    })
                    .await
                    .expect("claimed append");
                (i, answer)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(caller.await.expect("caller"));
    }
    let count = |wanted: ClaimOutcome| answers.iter().filter(|(_, (_, o))| *o == wanted).count();
    assert_eq!(count(ClaimOutcome::Claimed), 1, "{answers:?}");
    assert_eq!(count(ClaimOutcome::Replay), CALLERS - 1, "{answers:?}");

    assert_eq!(s.journal_len().await.expect("len"), CALLERS as u64);
    let journal = s.journal_range(0, 100).await.expect("range");
    for (i, (seq, outcome)) in &answers {
        let record = &journal[usize::try_from(*seq).expect("seq fits")];
        assert_eq!(record.kind, QUERY_KIND);
        assert_eq!(
            record.body,
            decision_body(*i, *outcome),
            "record of caller {i}"
        );
    }

    let (_, other_region) = s
        .append_claimed(QUERY_KIND, claim("520000", nonce(7)), None, |o| {
            decision_body(100, o)
        })
        .await
        .expect("other region");
    assert_eq!(other_region, ClaimOutcome::Claimed);
    let (_, again) = s
        .append_claimed(QUERY_KIND, claim("500000", nonce(7)), None, |o| {
            decision_body(101, o)
        })
        .await
        .expect("again");
    assert_eq!(again, ClaimOutcome::Replay);
    s.close().await;
}

/// An authorization allowing 3 uses, claimed by 10 concurrent requests:
/// exactly 3 are `Claimed`. A refused request consumes its nonce but no
/// use; an authorization allowing 0 uses refuses the first.
async fn authorization_uses_are_bounded(store: Store) {
    const REQUESTS: usize = 10;
    const MAX_USES: u32 = 3;
    let s = store.open().await;
    let authorization = [0xa1; 16];
    let requests: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let claim = AccessClaim {
                    authorization_use: Some((authorization, MAX_USES)),
                    ..claim("500000", nonce(i))
                };
                let (_, outcome) = s
                    .append_claimed(QUERY_KIND, claim, None, move |o| decision_body(i, o))
                    .await
                    .expect("claimed append");
                (i, outcome)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for request in requests {
        outcomes.push(request.await.expect("request"));
    }
    let claimed = outcomes
        .iter()
        .filter(|(_, o)| *o == ClaimOutcome::Claimed)
        .count();
    let used_up: Vec<usize> = outcomes
        .iter()
        .filter(|(_, o)| *o == ClaimOutcome::AuthorizationUsedUp)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(claimed, MAX_USES as usize, "{outcomes:?}");
    assert_eq!(used_up.len(), REQUESTS - MAX_USES as usize, "{outcomes:?}");
    assert_eq!(
        s.authorization_uses(&authorization).await.expect("uses"),
        MAX_USES
    );
    assert_eq!(s.journal_len().await.expect("len"), REQUESTS as u64);

    // The refused request's nonce is spent: sending it again is a replay.
    let (_, resent) = s
        .append_claimed(
            QUERY_KIND,
            AccessClaim {
                authorization_use: Some((authorization, MAX_USES)),
                ..claim("500000", nonce(used_up[0]))
            },
            None,
            |o| decision_body(99, o),
        )
        .await
        .expect("resent");
    assert_eq!(resent, ClaimOutcome::Replay);

    let never = [0xa0; 16];
    let (_, first_use) = s
        .append_claimed(
            QUERY_KIND,
            AccessClaim {
                authorization_use: Some((never, 0)),
                ..claim("500000", nonce(1000))
            },
            None,
            |o| decision_body(1000, o),
        )
        .await
        .expect("max 0");
    assert_eq!(first_use, ClaimOutcome::AuthorizationUsedUp);
    assert_eq!(s.authorization_uses(&never).await.expect("uses"), 0);
    s.close().await;
}

/// A quota of 5 in a window: 5 claims, then `QuotaExceeded` (which spends
/// no authorization use); the next window and another peer start fresh.
async fn quota_is_counted_per_window(store: Store) {
    const LIMIT: u32 = 5;
    const WINDOW: i64 = 1_700_000_000_000;
    const NEXT_WINDOW: i64 = WINDOW + 3_600_000;
    let s = store.open().await;
    let authorization = [0xb2; 16];
    let request = |n: usize, peer: &str, window_start_unix_ms: i64| AccessClaim {
        authorization_use: Some((authorization, 100)),
        quota: Some(QuotaClaim {
            peer: peer.into(),
            window_start_unix_ms,
            limit: LIMIT,
        }),
        ..claim("440000", nonce(n))
    };
    let mut outcomes = Vec::new();
    for n in 0..=LIMIT as usize {
        let (_, outcome) = s
            .append_claimed(QUERY_KIND, request(n, "440000", WINDOW), None, move |o| {
                decision_body(n, o)
            })
            .await
            .expect("claimed append");
        outcomes.push(outcome);
    }
    let mut expected = vec![ClaimOutcome::Claimed; LIMIT as usize];
    expected.push(ClaimOutcome::QuotaExceeded);
    assert_eq!(outcomes, expected);
    assert_eq!(s.quota_used("440000", WINDOW).await.expect("used"), LIMIT);
    assert_eq!(
        s.authorization_uses(&authorization).await.expect("uses"),
        LIMIT,
        "a request refused for quota spent an authorization use"
    );

    let (_, next) = s
        .append_claimed(QUERY_KIND, request(10, "440000", NEXT_WINDOW), None, |o| {
            decision_body(10, o)
        })
        .await
        .expect("next window");
    assert_eq!(next, ClaimOutcome::Claimed);
    let (_, other_peer) = s
        .append_claimed(QUERY_KIND, request(11, "450000", WINDOW), None, |o| {
            decision_body(11, o)
        })
        .await
        .expect("other peer");
    assert_eq!(other_peer, ClaimOutcome::Claimed);
    assert_eq!(s.quota_used("440000", NEXT_WINDOW).await.expect("used"), 1);
    assert_eq!(s.quota_used("440000", WINDOW).await.expect("used"), LIMIT);
    assert_eq!(s.quota_used("450000", WINDOW).await.expect("used"), 1);
    assert_eq!(s.quota_used("460000", WINDOW).await.expect("used"), 0);
    s.close().await;
}

/// Claims are durable: after close and reopen the nonce is still a replay,
/// the authorization still used up, the quota still counted.
async fn claims_survive_reopen(store: Store) {
    let authorization = [0xc3; 16];
    let quota = QuotaClaim {
        peer: "520000".into(),
        window_start_unix_ms: 0,
        limit: 1,
    };
    let s = store.open().await;
    let (seq, outcome) = s
        .append_claimed(
            QUERY_KIND,
            AccessClaim {
                authorization_use: Some((authorization, 1)),
                quota: Some(quota.clone()),
                ..claim("520000", nonce(1))
            },
            None,
            |o| decision_body(1, o),
        )
        .await
        .expect("claimed append");
    assert_eq!((seq, outcome), (0, ClaimOutcome::Claimed));
    s.close().await;

    let s = store.open().await;
    let mut outcomes = Vec::new();
    for (n, claim) in [
        claim("520000", nonce(1)),
        AccessClaim {
            authorization_use: Some((authorization, 1)),
            ..claim("520000", nonce(2))
        },
        AccessClaim {
            quota: Some(quota.clone()),
            ..claim("520000", nonce(3))
        },
    ]
    .into_iter()
    .enumerate()
    {
        let (_, outcome) = s
            .append_claimed(QUERY_KIND, claim, None, move |o| decision_body(n, o))
            .await
            .expect("after reopen");
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes,
        [
            ClaimOutcome::Replay,
            ClaimOutcome::AuthorizationUsedUp,
            ClaimOutcome::QuotaExceeded
        ]
    );
    assert_eq!(s.quota_used("520000", 0).await.expect("used"), 1);
    assert_eq!(s.journal_len().await.expect("len"), 4);
    s.close().await;
}

/// A batch that fails to commit rolls back the claims of every claimed
/// append in it: afterwards the same nonces, authorization and quota claim
/// as if never tried. (A test trigger rejects the record of kind 999.)
async fn failed_batch_rolls_back_claims(store: Store) {
    let s = store
        .open_with(StorageOptions {
            max_batch_delay: Duration::ZERO,
            ..StorageOptions::default()
        })
        .await;
    install_reject_999(&store, &s).await;
    let doomed_claim = |n: usize| AccessClaim {
        authorization_use: Some(([0xd4; 16], 1)),
        quota: Some(QuotaClaim {
            peer: "500000".into(),
            window_start_unix_ms: 0,
            limit: 1,
        }),
        ..claim("500000", nonce(n))
    };

    // Get a blocker stuck in the writer, so the next two queue up and form
    // one batch: a good claimed append and one whose record is rejected.
    let lock = store.hold_write_lock().await;
    let blocker = s.try_append(1, b"blocker".to_vec()).expect("queue");
    wait_until("blocker taken by the writer", || s.stats().queued == 0).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let good = tokio::spawn({
        let s = s.clone();
        async move {
            s.append_claimed(1, claim("500000", nonce(1)), None, |o| decision_body(1, o))
                .await
        }
    });
    wait_until("good claim queued", || s.stats().accepted == 2).await;
    let poisoned = tokio::spawn({
        let s = s.clone();
        async move {
            s.append_claimed(999, doomed_claim(2), None, |o| decision_body(2, o))
                .await
        }
    });
    wait_until("poisoned claim queued", || s.stats().accepted == 3).await;
    lock.release().await;

    let blocker = blocker.await;
    let good = good.await.expect("good task");
    let poisoned = poisoned.await.expect("poisoned task");
    let err = poisoned.expect_err("the rejected record was committed");
    assert!(matches!(err, StorageError::Write { .. }), "{err}");
    assert!(err.to_string().contains("kind 999 rejected"), "{err}");
    if blocker.is_ok() {
        // The intended schedule: both claimed appends formed one batch.
        let err = good.as_ref().expect_err("the batch partly committed");
        assert!(err.to_string().contains("kind 999 rejected"), "{err}");
    }

    assert_eq!(s.quota_used("500000", 0).await.expect("used"), 0);
    assert_eq!(s.authorization_uses(&[0xd4; 16]).await.expect("uses"), 0);
    let (_, retried) = s
        .append_claimed(1, doomed_claim(2), None, |o| decision_body(2, o))
        .await
        .expect("retry");
    assert_eq!(
        retried,
        ClaimOutcome::Claimed,
        "the failed batch kept its claims"
    );
    let (_, good_again) = s
        .append_claimed(1, claim("500000", nonce(1)), None, |o| decision_body(1, o))
        .await
        .expect("good again");
    let expected = if good.is_ok() {
        ClaimOutcome::Replay
    } else {
        ClaimOutcome::Claimed
    };
    assert_eq!(good_again, expected);
    s.close().await;
}

/// A guarded claim write that changes no row although the read under the
/// lock said it would (here a test trigger silently skips nonce inserts,
/// as a writer ignoring the lock could cause) fails the whole batch, so a
/// claim is never answered `Claimed` without being stored.
async fn claim_write_that_changes_nothing_fails(store: Store) {
    let s = store.open().await;
    let install = match store.backend() {
        // A query's nonce goes to `recent_nonces` on SQLite (decision 1210).
        Backend::Sqlite => {
            "CREATE TRIGGER skip_nonces BEFORE INSERT ON nonces \
             BEGIN SELECT RAISE(IGNORE); END; \
             CREATE TRIGGER skip_recent_nonces BEFORE INSERT ON recent_nonces \
             BEGIN SELECT RAISE(IGNORE); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION skip_nonces() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RETURN NULL; END $$; \
             CREATE TRIGGER skip_nonces BEFORE INSERT ON nonces \
             FOR EACH ROW EXECUTE FUNCTION skip_nonces();"
        }
    };
    danger::execute_raw(&s, install)
        .await
        .expect("install trigger");
    let err = s
        .append_claimed(QUERY_KIND, claim("520000", nonce(1)), None, |o| {
            decision_body(1, o)
        })
        .await
        .expect_err("claim answered without its nonce stored");
    assert!(matches!(err, StorageError::ClaimRaced { .. }), "{err}");
    assert!(err.to_string().contains(s.location()), "{err}");
    assert_eq!(s.journal_len().await.expect("len"), 0);
    assert_eq!(s.stats().failed_batches, 1);
    // The raced batch's transaction ended with it, though every statement
    // of it succeeded: another writer gets the journal's lock at once, and
    // the next append is the journal's first record. (A connection given
    // back inside that transaction would hold the lock, and commit the
    // raced rows with the next batch.)
    tokio::time::timeout(Duration::from_secs(5), store.hold_write_lock())
        .await
        .expect("the raced batch still holds the journal's write lock")
        .release()
        .await;
    assert_eq!(s.append(1, b"after".to_vec()).await.expect("append"), 0);
    assert_eq!(s.journal_len().await.expect("len"), 1);
    s.close().await;
}

/// A `build` that returns an oversized body, or panics, fails only its own
/// caller: nothing of its claim is taken, no seq is consumed, and the other
/// appends of its batch are written.
async fn bad_build_fails_only_its_caller(store: Store) {
    let s = store
        .open_with(StorageOptions {
            max_batch_delay: Duration::ZERO,
            ..StorageOptions::default()
        })
        .await;
    let lock = store.hold_write_lock().await;
    let blocker = s.try_append(1, b"blocker".to_vec()).expect("queue");
    wait_until("blocker taken by the writer", || s.stats().queued == 0).await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let a = s.try_append(1, b"a".to_vec()).expect("queue a");
    let claimed = |n: u8, build: Box<dyn FnOnce(ClaimOutcome) -> Vec<u8> + Send>| {
        let s = s.clone();
        tokio::spawn(async move {
            s.append_claimed(
                QUERY_KIND,
                claim("530000", nonce(usize::from(n))),
                None,
                build,
            )
            .await
        })
    };
    let oversized = claimed(1, Box::new(|_| vec![0; MAX_BODY_LEN + 1]));
    wait_until("oversized queued", || s.stats().accepted == 3).await;
    let panicking = claimed(2, Box::new(|_| panic!("build panics on purpose")));
    wait_until("panicking queued", || s.stats().accepted == 4).await;
    let same_nonce = claimed(1, Box::new(|o| decision_body(1, o)));
    wait_until("same nonce queued", || s.stats().accepted == 5).await;
    let c = s.try_append(1, b"c".to_vec()).expect("queue c");
    lock.release().await;

    assert_eq!(blocker.await.expect("blocker"), 0);
    assert_eq!(a.await.expect("a"), 1);
    let err = oversized
        .await
        .expect("task")
        .expect_err("oversized body written");
    assert!(
        matches!(err, StorageError::BodyTooLarge { len, .. } if len == MAX_BODY_LEN + 1),
        "{err}"
    );
    let err = panicking
        .await
        .expect("task")
        .expect_err("panicking build written");
    assert!(matches!(err, StorageError::BuildPanicked), "{err}");
    assert_eq!(
        same_nonce.await.expect("task").expect("same nonce"),
        (2, ClaimOutcome::Claimed),
        "the refused append took the nonce or a seq"
    );
    assert_eq!(c.await.expect("c"), 3);
    assert_eq!(s.stats().failed_batches, 0);

    let (_, outcome) = s
        .append_claimed(QUERY_KIND, claim("530000", nonce(2)), None, |o| {
            decision_body(2, o)
        })
        .await
        .expect("after panic");
    assert_eq!(
        outcome,
        ClaimOutcome::Claimed,
        "the panicking build took its nonce"
    );
    let bodies: Vec<Vec<u8>> = s
        .journal_range(0, 10)
        .await
        .expect("range")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(
        bodies,
        [
            b"blocker".to_vec(),
            b"a".to_vec(),
            decision_body(1, ClaimOutcome::Claimed),
            b"c".to_vec(),
            decision_body(2, ClaimOutcome::Claimed),
        ]
    );
    s.close().await;
}

/// Claims that break the store's rules are refused before queueing.
async fn bad_claims_are_refused(store: Store) {
    let s = store.open().await;
    for (bad, what) in [
        (claim("52000x", nonce(1)), "region"),
        (claim("5200000", nonce(1)), "region"),
        (
            AccessClaim {
                quota: Some(QuotaClaim {
                    peer: String::new(),
                    window_start_unix_ms: 0,
                    limit: 1,
                }),
                ..claim("520000", nonce(1))
            },
            "quota peer",
        ),
    ] {
        let err = s
            .append_claimed(QUERY_KIND, bad, None, |o| decision_body(0, o))
            .await
            .expect_err(what);
        assert!(
            matches!(err, StorageError::InvalidClaim { .. }) && err.to_string().contains(what),
            "{err}"
        );
    }
    let err = s
        .append_claimed(
            QUERY_KIND,
            claim("520000", nonce(1)),
            Some(Attachment::new([1; 32], vec![0; MAX_ATTACHMENT_LEN + 1])),
            |o| decision_body(0, o),
        )
        .await
        .expect_err("oversized attachment");
    assert!(
        matches!(err, StorageError::AttachmentTooLarge { .. }),
        "{err}"
    );
    assert_eq!(s.journal_len().await.expect("len"), 0);
    let (_, outcome) = s
        .append_claimed(QUERY_KIND, claim("520000", nonce(1)), None, |o| {
            decision_body(0, o)
        })
        .await
        .expect("valid claim");
    assert_eq!(
        outcome,
        ClaimOutcome::Claimed,
        "a refused claim took the nonce"
    );
    s.close().await;
}

/// An attachment is kept by the entry of the claimed append that carries
/// it (decision 1220): read back by that entry's index and its digest, not
/// by its digest alone, and not under another entry or another digest. A
/// replay's entry keeps the attachment its caller gave, beside the first.
async fn attachments_are_kept_by_their_entry(store: Store) {
    let s = store.open().await;
    let digest = [0xe5; 32];
    let bundle = b"dual-authorization bundle".to_vec();
    assert_eq!(s.entry_attachment(0, &digest).await.expect("read"), None);
    let plain = s.append(2, b"no attachment".to_vec()).await.expect("plain");
    let (first_seq, first) = s
        .append_claimed(
            QUERY_KIND,
            claim("520000", nonce(1)),
            Some(Attachment::new(digest, bundle.clone())),
            |o| decision_body(1, o),
        )
        .await
        .expect("first");
    assert_eq!(first, ClaimOutcome::Claimed);
    assert_eq!(
        s.entry_attachment(first_seq, &digest).await.expect("read"),
        Some(bundle.clone())
    );
    // Kept by its entry only: no random digest key per query.
    assert_eq!(s.attachment(&digest).await.expect("read"), None);
    assert_eq!(
        s.entry_attachment(plain, &digest).await.expect("read"),
        None
    );
    assert_eq!(
        s.entry_attachment(first_seq, &[0xe7; 32])
            .await
            .expect("read"),
        None,
        "another digest under the same entry"
    );

    let (replay_seq, replay) = s
        .append_claimed(
            QUERY_KIND,
            claim("520000", nonce(1)),
            Some(Attachment::new(digest, b"something else".to_vec())),
            |o| decision_body(2, o),
        )
        .await
        .expect("same digest again");
    assert_eq!(replay, ClaimOutcome::Replay);
    assert_eq!(
        s.entry_attachment(first_seq, &digest).await.expect("read"),
        Some(bundle.clone()),
        "the first entry keeps its own"
    );
    assert_eq!(
        s.entry_attachment(replay_seq, &digest).await.expect("read"),
        Some(b"something else".to_vec()),
        "a replay's record keeps what it was given"
    );

    // Several in one group commit: each under its own entry.
    let appends: Vec<_> = (0..8u8)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move {
                let content = vec![n; 100 + usize::from(n)];
                let digest = [n; 32];
                let (seq, _) = s
                    .append_claimed(
                        QUERY_KIND,
                        claim("520000", nonce(10 + usize::from(n))),
                        Some(Attachment::new(digest, content.clone())),
                        move |o| decision_body(10 + usize::from(n), o),
                    )
                    .await
                    .expect("concurrent");
                (seq, digest, content)
            })
        })
        .collect();
    let mut kept = Vec::new();
    for append in appends {
        kept.push(append.await.expect("task"));
    }
    for (seq, digest, content) in &kept {
        assert_eq!(
            s.entry_attachment(*seq, digest).await.expect("read"),
            Some(content.clone())
        );
    }
    s.close().await;

    let s = store.open().await;
    assert_eq!(
        s.entry_attachment(first_seq, &digest).await.expect("read"),
        Some(bundle)
    );
    s.close().await;
}

/// Attachments that share parts (decision 1180): each part is stored once,
/// as an attachment of its own under its SHA-256, and every attachment
/// reads back whole, also from a new process that did not see the parts
/// stored. A part deleted behind the node's back makes the attachment
/// unreadable with an error that names the part, never a wrong content.
async fn attachments_share_their_parts(store: Store) {
    let sha256 = |b: &[u8]| -> [u8; 32] {
        ring::digest::digest(&ring::digest::SHA256, b)
            .as_ref()
            .try_into()
            .expect("32 bytes")
    };
    let officer: Vec<u8> = (0..600u32).map(|i| (i * 7 % 251) as u8).collect();
    let region_ca: Vec<u8> = (0..500u32).map(|i| (i * 13 % 241) as u8).collect();
    let bundle = |n: u8| -> Vec<u8> {
        let mut b = vec![n; 40];
        b.extend_from_slice(&officer);
        b.extend_from_slice(&region_ca);
        b.extend_from_slice(&[n; 9]);
        b.extend_from_slice(&region_ca);
        b
    };
    let s = store.open().await;
    let mut seqs = vec![0];
    for n in 1..=3u8 {
        let content = bundle(n);
        let attachment = Attachment::new(sha256(&content), content).sharing([
            officer.as_slice(),
            region_ca.as_slice(),
            b"short".as_slice(),
        ]);
        let (seq, _) = s
            .append_claimed(
                QUERY_KIND,
                claim("520000", nonce(usize::from(n))),
                Some(attachment),
                move |o| decision_body(usize::from(n), o),
            )
            .await
            .expect("append");
        seqs.push(seq);
    }
    for n in 1..=3u8 {
        assert_eq!(
            s.entry_attachment(seqs[usize::from(n)], &sha256(&bundle(n)))
                .await
                .expect("read"),
            Some(bundle(n)),
            "bundle {n} put back together"
        );
    }
    // Each part is an attachment of its own.
    assert_eq!(
        s.attachment(&sha256(&officer)).await.expect("read"),
        Some(officer.clone())
    );
    s.close().await;

    // A new process does not know the parts are stored: it sends them again,
    // and the first copy stays.
    let s = store.open().await;
    let content = bundle(4);
    let attachment = Attachment::new(sha256(&content), content.clone())
        .sharing([officer.as_slice(), region_ca.as_slice()]);
    let (fourth, _) = s
        .append_claimed(
            QUERY_KIND,
            claim("520000", nonce(4)),
            Some(attachment),
            |o| decision_body(4, o),
        )
        .await
        .expect("append after reopening");
    assert_eq!(
        s.entry_attachment(fourth, &sha256(&content))
            .await
            .expect("read"),
        Some(content.clone())
    );
    assert_eq!(
        s.entry_attachment(seqs[1], &sha256(&bundle(1)))
            .await
            .expect("read"),
        Some(bundle(1))
    );

    // The region CA's part deleted behind the node's back.
    let part = hex::encode(sha256(&region_ca));
    let delete = match store.backend() {
        Backend::Sqlite => format!("DELETE FROM attachments WHERE digest = X'{part}'"),
        Backend::Postgres => format!("DELETE FROM attachments WHERE digest = '\\x{part}'::bytea"),
    };
    assert_eq!(danger::execute_raw(&s, &delete).await.expect("delete"), 1);
    let err = s
        .entry_attachment(seqs[2], &sha256(&bundle(2)))
        .await
        .expect_err("a bundle without its part");
    assert!(
        matches!(&err, StorageError::Corrupt { detail, .. } if detail.contains(&part) && detail.contains("missing")),
        "{err}"
    );
    s.close().await;
}

/// An import is written whole or not at all (a row rejected by the
/// database in the last statement leaves nothing), re-importing replaces
/// rows by (category, record_id), and `records_for` returns one subject's
/// records in the asked categories, ordered by category then record id.
async fn records_import_whole_or_not_at_all(store: Store) {
    const ROWS: usize = 1500;
    let s = store.open().await;

    let mut bad = sample_records(10);
    bad[3].category = String::new();
    let err = s.import_records(bad).await.expect_err("empty category");
    assert!(
        matches!(err, StorageError::InvalidRecord { index: 3, .. }),
        "{err}"
    );
    let mut twice = sample_records(10);
    twice[7].category = twice[2].category.clone();
    twice[7].record_id = twice[2].record_id.clone();
    let err = s.import_records(twice).await.expect_err("duplicate");
    assert!(
        matches!(err, StorageError::InvalidRecord { index: 7, .. }),
        "{err}"
    );

    let install = match store.backend() {
        Backend::Sqlite => {
            "CREATE TRIGGER reject_poison BEFORE INSERT ON records \
             WHEN NEW.record_id = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'record poison rejected by the test trigger'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.record_id = 'poison' THEN \
             RAISE EXCEPTION 'record poison rejected by the test trigger'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER reject_poison BEFORE INSERT ON records \
             FOR EACH ROW EXECUTE FUNCTION reject_poison();"
        }
    };
    danger::execute_raw(&s, install)
        .await
        .expect("install trigger");
    let mut poisoned = sample_records(ROWS);
    // In the last INSERT statement, after earlier ones succeeded.
    poisoned[ROWS - 2].record_id = "poison".into();
    let err = s
        .import_records(poisoned)
        .await
        .expect_err("poisoned import");
    assert!(matches!(err, StorageError::Write { .. }), "{err}");
    assert!(err.to_string().contains("record poison rejected"), "{err}");
    assert_eq!(
        s.record_count().await.expect("count"),
        0,
        "a failed import left rows"
    );
    let uninstall = match store.backend() {
        Backend::Sqlite => "DROP TRIGGER reject_poison",
        Backend::Postgres => "DROP TRIGGER reject_poison ON records",
    };
    danger::execute_raw(&s, uninstall)
        .await
        .expect("drop trigger");

    let rows = sample_records(ROWS);
    assert_eq!(
        s.import_records(rows.clone()).await.expect("import"),
        ROWS as u64
    );
    assert_eq!(s.record_count().await.expect("count"), ROWS as u64);

    let categories = ["penalty".to_owned(), "B_red_list".to_owned()];
    let expected = |rows: &[RecordRow], subject: &str| records_of(rows, subject, &categories);
    let found = s
        .records_for("subject-1", &categories)
        .await
        .expect("records");
    assert!(!found.is_empty());
    assert_eq!(found, expected(&rows, "subject-1"));
    assert!(
        s.records_for("subject-1", &[])
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        s.records_for("nobody", &categories)
            .await
            .expect("nobody")
            .is_empty()
    );

    // A corrected file: new bodies, one record moved to another subject.
    let mut corrected: Vec<RecordRow> = rows.iter().take(30).cloned().collect();
    for row in &mut corrected {
        row.body = format!("corrected {}", row.record_id).into_bytes();
    }
    corrected[0].subject_key = "subject-2".into();
    assert_eq!(
        s.import_records(corrected.clone())
            .await
            .expect("re-import"),
        30
    );
    assert_eq!(s.record_count().await.expect("count"), ROWS as u64);
    let mut merged = rows.clone();
    merged.splice(0..30, corrected);
    for subject in ["subject-0", "subject-1", "subject-2"] {
        assert_eq!(
            s.records_for(subject, &categories).await.expect("records"),
            expected(&merged, subject),
            "{subject}"
        );
    }
    s.close().await;
}

/// `records_for` answers up to its bound and refuses more rather than
/// answering in part.
async fn records_for_is_bounded(store: Store) {
    let s = store.open().await;
    let row = |i: usize| RecordRow {
        category: "license".into(),
        record_id: format!("L{i:05}"),
        subject_key: "big".into(),
        body: vec![1],
        copy_of: None,
    };
    let rows: Vec<RecordRow> = (0..MAX_RECORDS_PER_QUERY).map(row).collect();
    s.import_records(rows).await.expect("import");
    let license = ["license".to_owned()];
    assert_eq!(
        s.records_for("big", &license)
            .await
            .expect("at the bound")
            .len(),
        MAX_RECORDS_PER_QUERY
    );
    s.import_records(vec![row(MAX_RECORDS_PER_QUERY)])
        .await
        .expect("one more");
    let err = s
        .records_for("big", &license)
        .await
        .expect_err("over the bound");
    assert!(matches!(err, StorageError::TooManyRecords { .. }), "{err}");
    s.close().await;
}

/// Concurrent `records_for` calls, which PostgreSQL answers in batches
/// (`storage::postgres::record_reads`), each get exactly their subject's
/// records in their own categories, in order; one over the bound is
/// refused without touching the others.
async fn concurrent_record_reads_each_get_their_own(store: Store) {
    let s = store.open().await;
    let rows = sample_records(120);
    s.import_records(rows.clone()).await.expect("import");
    let big: Vec<RecordRow> = (0..=MAX_RECORDS_PER_QUERY)
        .map(|i| RecordRow {
            category: "license".into(),
            record_id: format!("L{i:05}"),
            subject_key: "big".into(),
            body: vec![2],
            copy_of: None,
        })
        .collect();
    s.import_records(big).await.expect("big");
    let sets: [&[&str]; 4] = [
        &["penalty"],
        &["license", "tax_rating"],
        &["B_red_list", "penalty", "license"],
        &["tax_rating", "tax_rating"],
    ];
    let tasks: Vec<_> = (0..64usize)
        .map(|i| {
            let s = s.clone();
            let subject = match i {
                _ if i % 16 == 5 => "big".to_owned(),
                _ if i % 11 == 0 => "nobody".to_owned(),
                _ => format!("subject-{}", i % 3),
            };
            let categories: Vec<String> = if subject == "big" {
                vec!["license".into()]
            } else {
                sets[i % 4].iter().map(|c| (*c).to_owned()).collect()
            };
            tokio::spawn(async move {
                let got = s.records_for(&subject, &categories).await;
                (subject, categories, got)
            })
        })
        .collect();
    for task in tasks {
        let (subject, categories, got) = task.await.expect("task");
        if subject == "big" {
            assert!(
                matches!(got, Err(StorageError::TooManyRecords { .. })),
                "{got:?}"
            );
            continue;
        }
        assert_eq!(
            got.expect("records"),
            records_of(&rows, &subject, &categories),
            "{subject} {categories:?}"
        );
    }
    s.close().await;
}

/// `record_keys_of_subjects` answers each subject in the order asked, its
/// keys in the categories asked, and `None` for a subject over the bound.
async fn record_keys_of_subjects_reads_many_at_once(store: Store) {
    let s = store.open().await;
    let row = |subject: &str, category: &str, i: usize| RecordRow {
        category: category.into(),
        record_id: format!("{subject}-{i:05}"),
        subject_key: subject.into(),
        body: vec![1],
        copy_of: None,
    };
    let mut rows: Vec<RecordRow> = (0..=MAX_RECORDS_PER_QUERY)
        .map(|i| row("big", "license", i))
        .collect();
    rows.push(row("one", "license", 1));
    rows.push(row("one", "admin_penalty", 2));
    rows.push(row("two", "license", 3));
    s.import_records(rows).await.expect("import");
    let license = ["license".to_owned()];
    let subjects: Vec<String> = ["two", "nobody", "big", "one"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let held = s
        .record_keys_of_subjects(&subjects, &license)
        .await
        .expect("read");
    assert_eq!(
        held,
        vec![
            Some(vec![("license".to_owned(), "two-00003".to_owned())]),
            Some(vec![]),
            None,
            Some(vec![("license".to_owned(), "one-00001".to_owned())]),
        ]
    );
    let too_many: Vec<String> = (0..=MAX_SUBJECTS_PER_READ).map(|i| i.to_string()).collect();
    assert!(
        s.record_keys_of_subjects(&too_many, &license)
            .await
            .is_err()
    );
    s.close().await;
}

/// A copy of another region's record is found by the key its owner names
/// it by, and only while the row is a copy of it.
async fn record_copies_are_found_by_their_owners_key(store: Store) {
    let s = store.open().await;
    let owner: credex_protocol::RegionCode = "520000".parse().expect("region");
    let of = |record: u8| credex_flows::flow::CopyOf {
        owner,
        record: [record; 32],
    };
    let row = |id: &str, copy_of| RecordRow {
        category: "admin_penalty".into(),
        record_id: format!("520000:{id}"),
        subject_key: "91520000MA6DKXYZ1X".into(),
        body: id.as_bytes().to_vec(),
        copy_of,
    };
    s.import_records(vec![
        row("A", Some(of(1))),
        row("B", Some(of(2))),
        row("C", None),
    ])
    .await
    .expect("import");
    let found = s.record_copy(&of(2)).await.expect("read").expect("held");
    assert_eq!(
        (found.record_id.as_str(), found.body.as_slice()),
        ("520000:B", b"B".as_slice())
    );
    let other_owner = credex_flows::flow::CopyOf {
        owner: "440000".parse().expect("region"),
        record: [1; 32],
    };
    assert_eq!(s.record_copy(&other_owner).await.expect("read"), None);
    assert_eq!(s.record_copy(&of(3)).await.expect("read"), None);
    // Re-imported as a record of this region's own: no longer a copy.
    s.import_records(vec![row("A", None)])
        .await
        .expect("reimport");
    assert_eq!(s.record_copy(&of(1)).await.expect("read"), None);
    s.close().await;
}

/// A key written several times in one batch ends as its last write says,
/// whatever the engine does with the batch.
async fn state_writes_to_one_key_keep_the_last(store: Store) {
    let s = store.open().await;
    s.write_state(vec![StateWrite::put("ns", "gone", b"0".to_vec())])
        .await
        .expect("first");
    s.append_with_state(
        QUERY_KIND,
        b"entry".to_vec(),
        vec![
            StateWrite::put("ns", "k", b"1".to_vec()),
            StateWrite::put("ns", "k", b"2".to_vec()),
            StateWrite::delete("ns", "gone"),
            StateWrite::put("ns", "back", b"a".to_vec()),
            StateWrite::delete("ns", "back"),
            StateWrite::put("ns", "back", b"b".to_vec()),
            StateWrite::put("ns", "deleted", b"x".to_vec()),
            StateWrite::delete("ns", "deleted"),
        ],
    )
    .await
    .expect("batch");
    assert_eq!(
        s.state_scan("ns", "", None, 10).await.expect("scan"),
        vec![
            ("back".to_owned(), b"b".to_vec()),
            ("k".to_owned(), b"2".to_vec()),
        ]
    );
    s.close().await;
}

/// The appends of one group commit write their flow state in queue order:
/// a key written by several of them ends as the last says, and a replayed
/// claim writes nothing (the writer applies a batch's state at once).
async fn state_writes_of_one_batch_apply_in_queue_order(store: Store) {
    let s = store.open().await;
    let (_, first) = s
        .append_claimed(1, claim("500000", nonce(7)), None, |o| decision_body(7, o))
        .await
        .expect("first claim");
    assert_eq!(first, ClaimOutcome::Claimed);
    s.write_state(vec![StateWrite::put("ns", "gone", b"0".to_vec())])
        .await
        .expect("first write");

    // A blocker stuck in the writer, so that the appends below queue up and
    // form one batch, in the order queued.
    let lock = store.hold_write_lock().await;
    let blocker = s.try_append(1, b"blocker".to_vec()).expect("queue");
    wait_until("blocker taken by the writer", || s.stats().queued == 0).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let accepted = s.stats().accepted;
    let queued: Vec<(u32, Vec<StateWrite>)> = vec![
        (0, vec![StateWrite::put("ns", "k", b"1".to_vec())]),
        (
            1,
            vec![
                StateWrite::put("ns", "k", b"2".to_vec()),
                StateWrite::delete("ns", "gone"),
            ],
        ),
        // A replay of the first claim: its state is not written.
        (2, vec![StateWrite::put("ns", "k", b"replayed".to_vec())]),
        (0, vec![StateWrite::put("ns", "back", b"a".to_vec())]),
        (
            1,
            vec![
                StateWrite::delete("ns", "back"),
                StateWrite::put("ns", "gone", b"1".to_vec()),
            ],
        ),
        (0, vec![StateWrite::put("ns", "back", b"b".to_vec())]),
    ];
    let mut tasks = Vec::new();
    for (n, (how, state)) in queued.into_iter().enumerate() {
        let s2 = s.clone();
        tasks.push(tokio::spawn(async move {
            match how {
                0 => s2
                    .append_with_state(1, b"plain".to_vec(), state)
                    .await
                    .map(|_| ClaimOutcome::Claimed),
                1 => s2
                    .append_claimed_with_state(
                        1,
                        claim("500000", nonce(100 + n)),
                        None,
                        state,
                        move |o| decision_body(100 + n, o),
                    )
                    .await
                    .map(|(_, o)| o),
                _ => s2
                    .append_claimed_with_state(1, claim("500000", nonce(7)), None, state, |o| {
                        decision_body(7, o)
                    })
                    .await
                    .map(|(_, o)| o),
            }
        }));
        wait_until("append queued", || {
            s.stats().accepted == accepted + n as u64 + 1
        })
        .await;
    }
    lock.release().await;
    let _ = blocker.await;
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task").expect("append"));
    }
    assert_eq!(outcomes[2], ClaimOutcome::Replay, "{outcomes:?}");
    assert_eq!(
        s.state_scan("ns", "", None, 10).await.expect("scan"),
        vec![
            ("back".to_owned(), b"b".to_vec()),
            ("gone".to_owned(), b"1".to_vec()),
            ("k".to_owned(), b"2".to_vec()),
        ]
    );
    s.close().await;
}

/// The entries that follow a claim (a query's disclosures, decision 1200)
/// are written with their state in the claim's transaction, at the seqs
/// right after its record, only when the claim holds: not for a replay,
/// not when the authorization or the quota is used up. In one batch with
/// other appends, every caller still gets its own record's seq.
async fn entries_on_claim_follow_only_a_claim_that_holds(store: Store) {
    use credex_journal::{DisclosedBy, ENTRY_VERSION, RecordsDisclosed};
    let s = store.open().await;
    let disclosed = |n: u8| {
        let entry = RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms: 1,
            by: DisclosedBy::Query {
                query_digest: [n; 32],
            },
            recipients: vec!["520000".parse().expect("region")],
            records: vec![[n; 32]],
        };
        let state = vec![StateWrite::put("ledger", format!("r{n}"), vec![n])];
        (
            credex_journal::encode(&entry).expect("encode").body,
            EntryOnClaim::new(&entry, state).expect("entry"),
        )
    };
    let limited = |n: usize, authorization: u8| AccessClaim {
        authorization_use: Some(([authorization; 16], 1)),
        quota: Some(QuotaClaim {
            peer: "520000".into(),
            window_start_unix_ms: 0,
            limit: 2,
        }),
        ..claim("520000", nonce(n))
    };

    // Held in the writer, so the appends below form one batch in queue
    // order: a claim that holds, a plain append, its replay, a claim whose
    // authorization is used up, a second claim that holds (the last unit of
    // quota), and one over the quota.
    let lock = store.hold_write_lock().await;
    let blocker = s.try_append(1, b"blocker".to_vec()).expect("queue");
    wait_until("blocker taken by the writer", || s.stats().queued == 0).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let queued: Vec<(Option<AccessClaim>, u8)> = vec![
        (Some(limited(1, 0xa1)), 1),
        (None, 2),
        (Some(limited(1, 0xa1)), 3),
        (Some(limited(2, 0xa1)), 4),
        (Some(limited(3, 0xa3)), 5),
        (Some(limited(4, 0xa4)), 6),
    ];
    let mut bodies = Vec::new();
    let mut tasks = Vec::new();
    for (claim, n) in queued {
        let (body, then) = disclosed(n);
        bodies.push(body);
        let accepted = s.stats().accepted;
        let s2 = s.clone();
        tasks.push(tokio::spawn(async move {
            match claim {
                Some(claim) => s2
                    .append_claimed_then(QUERY_KIND, claim, None, vec![then], move |o| {
                        decision_body(n.into(), o)
                    })
                    .await
                    .map(|(seq, o)| (seq, Some(o))),
                None => s2.append(1, b"plain".to_vec()).await.map(|seq| (seq, None)),
            }
        }));
        wait_until("append queued", || s.stats().accepted == accepted + 1).await;
    }
    lock.release().await;
    let blocker = blocker.await.expect("blocker");
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task").expect("append"));
    }
    let first = blocker + 1;
    assert_eq!(
        answers,
        vec![
            (first, Some(ClaimOutcome::Claimed)),
            (first + 2, None),
            (first + 3, Some(ClaimOutcome::Replay)),
            (first + 4, Some(ClaimOutcome::AuthorizationUsedUp)),
            (first + 5, Some(ClaimOutcome::Claimed)),
            (first + 7, Some(ClaimOutcome::QuotaExceeded)),
        ],
        "each caller gets its own record's seq"
    );
    let journal = s.journal_range(first, 100).await.expect("range");
    let kinds: Vec<u16> = journal.iter().map(|r| r.kind).collect();
    let disclosures = credex_journal::kind::RECORDS_DISCLOSED;
    assert_eq!(
        kinds,
        [
            QUERY_KIND,
            disclosures,
            1,
            QUERY_KIND,
            QUERY_KIND,
            QUERY_KIND,
            disclosures,
            QUERY_KIND
        ],
        "disclosures follow the two claims that hold, and no other"
    );
    assert_eq!(journal[1].body, bodies[0]);
    assert_eq!(journal[6].body, bodies[4]);
    assert_eq!(
        s.state_scan("ledger", "", None, 10).await.expect("scan"),
        vec![("r1".to_owned(), vec![1]), ("r5".to_owned(), vec![5])],
        "only the entries written brought their state"
    );
    assert_eq!(s.tree_head().size, first + 8);
    assert_eq!(s.tree_head().root, root_of_journal(&s).await);

    // Refused before queueing: an entry beyond the body bound.
    let huge = EntryOnClaim::new(
        &RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms: 1,
            by: DisclosedBy::Upward { seq: 1 },
            recipients: Vec::new(),
            records: vec![[7; 32]; MAX_BODY_LEN / 32 + 1],
        },
        Vec::new(),
    )
    .expect("encoded");
    let err = s
        .append_claimed_then(
            QUERY_KIND,
            claim("520000", nonce(9)),
            None,
            vec![huge],
            |o| decision_body(9, o),
        )
        .await
        .expect_err("an entry beyond the bound");
    assert!(matches!(err, StorageError::BodyTooLarge { .. }), "{err}");
    assert_eq!(s.tree_head().size, first + 8, "nothing was written");
    s.close().await;
}

/// `purge_expired_nonces` forgets only nonces that expired before `now`.
async fn expired_nonces_are_purged(store: Store) {
    let s = store.open().await;
    let expiring = |n: usize, at: i64| AccessClaim {
        nonce_expires_at_unix_ms: at,
        ..claim("350000", nonce(n))
    };
    for (n, at) in [(1, 100), (2, 200), (3, 300)] {
        let (_, outcome) = s
            .append_claimed(QUERY_KIND, expiring(n, at), None, move |o| {
                decision_body(n, o)
            })
            .await
            .expect("claim");
        assert_eq!(outcome, ClaimOutcome::Claimed);
    }
    assert_eq!(s.purge_expired_nonces(200).await.expect("purge"), 1);
    let mut outcomes = Vec::new();
    for (n, at) in [(1, 100), (2, 200), (3, 300)] {
        let (_, outcome) = s
            .append_claimed(QUERY_KIND, expiring(n, at), None, move |o| {
                decision_body(n, o)
            })
            .await
            .expect("claim again");
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes,
        [
            ClaimOutcome::Claimed,
            ClaimOutcome::Replay,
            ClaimOutcome::Replay
        ]
    );
    assert_eq!(s.purge_expired_nonces(1_000).await.expect("purge all"), 3);
    assert_eq!(s.purge_expired_nonces(1_000).await.expect("purge none"), 0);
    s.close().await;
}

/// The stored tree is the RFC 6962 tree of the journal's entries: after
/// several batches of concurrent plain and claimed appends, the published
/// head, `tree_root` of every size and the root recomputed from
/// `journal_range` agree; after close and reopen the tree keeps extending
/// correctly; sampled inclusion and consistency proofs verify against
/// roots from `tree_root`.
async fn tree_matches_the_journal(store: Store) {
    let s = store.open().await;
    assert_eq!(
        s.tree_head(),
        TreeHead {
            size: 0,
            root: EMPTY_ROOT
        }
    );
    assert_eq!(s.tree_root(0).await.expect("empty root"), EMPTY_ROOT);
    let mut next = 0;
    for round in 0..3 {
        next = append_mixed(&s, next, 300 + 37 * round).await;
        check_tree(&s, next).await;
    }
    s.close().await;

    let s = store.open().await;
    let head = s.tree_head();
    assert_eq!(head.size, next, "reopened tree size");
    assert_eq!(head.root, root_of_journal(&s).await, "reopened root");
    next = append_mixed(&s, next, 129).await;
    assert_eq!(s.append(1, b"lone".to_vec()).await.expect("append"), next);
    next += 1;
    check_tree(&s, next).await;
    check_proofs(&s, 0x5eed).await;

    // Sizes and indexes outside the committed tree are refused.
    let err = s.tree_root(next + 1).await.expect_err("root beyond");
    assert!(
        matches!(err, StorageError::TreeSizeUnavailable { size, committed } if size == next + 1 && committed == next),
        "{err}"
    );
    let err = s.inclusion_proof(0, next + 1).await.expect_err("beyond");
    assert!(
        matches!(err, StorageError::TreeSizeUnavailable { .. }),
        "{err}"
    );
    let err = s.inclusion_proof(5, 5).await.expect_err("index = size");
    assert!(
        matches!(err, StorageError::LeafIndexOutOfRange { index: 5, size: 5 }),
        "{err}"
    );
    let err = s.consistency_proof(6, 5).await.expect_err("old > new");
    assert!(
        matches!(err, StorageError::OldSizeExceedsNew { old: 6, new: 5 }),
        "{err}"
    );
    let err = s.consistency_proof(1, u64::MAX).await.expect_err("huge");
    assert!(
        matches!(err, StorageError::TreeSizeUnavailable { .. }),
        "{err}"
    );
    let available = stored_hash_count(next).expect("count");
    let err = s
        .read_tree_hashes(&[0, available])
        .await
        .expect_err("hash beyond the tree");
    assert!(
        matches!(err, StorageError::TreeHashUnavailable { index, .. } if index == available),
        "{err}"
    );
    let err = s
        .read_tree_hashes(&vec![0; MAX_TREE_HASH_READ + 1])
        .await
        .expect_err("too many");
    assert!(
        matches!(err, StorageError::TooManyTreeHashes { .. }),
        "{err}"
    );
    let leaves = journal_leaves(&s).await;
    let first = s
        .read_tree_hashes(&[stored_hash_index(0, 3).expect("index"), 0])
        .await
        .expect("read");
    assert_eq!(first, [leaves[3], leaves[0]], "leaf hashes are stored");
    s.close().await;
}

/// A batch that fails to commit (a trigger rejects one of its records)
/// leaves the tree as it was: the head does not move, the stored tree
/// still matches the journal, and the next appends extend it correctly.
async fn failed_batch_keeps_the_tree(store: Store) {
    let s = store
        .open_with(StorageOptions {
            max_batch_delay: Duration::ZERO,
            ..StorageOptions::default()
        })
        .await;
    for i in 0..5 {
        s.append(kind_of(i), body_of(i)).await.expect("append");
    }
    install_reject_999(&store, &s).await;
    let lock = store.hold_write_lock().await;
    let blocker = s.try_append(1, b"blocker".to_vec()).expect("queue");
    wait_until("blocker taken by the writer", || s.stats().queued == 0).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let doomed = [
        s.try_append(1, b"a".to_vec()).expect("queue"),
        s.try_append(999, b"poison".to_vec()).expect("queue"),
    ];
    let doomed_claim = tokio::spawn({
        let s = s.clone();
        async move {
            s.append_claimed(999, claim("500000", nonce(9)), None, |o| {
                decision_body(9, o)
            })
            .await
        }
    });
    wait_until("claim queued", || s.stats().accepted == 9).await;
    lock.release().await;
    // However the writer grouped them, the poisoned records fail and take
    // their batch with them.
    let _ = blocker.await;
    let [a, poison] = doomed;
    let _ = a.await;
    assert!(poison.await.is_err(), "the poisoned record was committed");
    assert!(doomed_claim.await.expect("task").is_err());
    assert!(s.stats().failed_batches >= 1, "{:?}", s.stats());

    let len = s.journal_len().await.expect("len");
    assert_eq!(
        s.tree_head().size,
        len,
        "the head moved with a failed batch"
    );
    assert_eq!(s.tree_head().root, root_of_journal(&s).await);
    for i in 0..40 {
        s.append(kind_of(i), body_of(i))
            .await
            .expect("append after");
    }
    append_mixed(&s, len + 40, 100).await;
    check_tree(&s, len + 140).await;
    check_proofs(&s, 7).await;
    s.close().await;
}

/// Two handles writing one journal (as two node processes would) keep one
/// tree: each writer notices the other's records under the lock and
/// extends the tree over them.
async fn two_writers_share_one_tree(store: Store) {
    let a = store.open().await;
    let b = store.open().await;
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                for i in 0..150 {
                    s.append(3, body_of(i)).await.expect("append");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    // Each head covers what its own writer last committed.
    let len = a.journal_len().await.expect("len");
    assert_eq!(len, 300);
    let last = a.append(4, b"a last".to_vec()).await.expect("append a");
    assert_eq!(a.tree_head().size, last + 1);
    assert_eq!(a.tree_head().root, root_of_journal(&a).await);
    let last = b.append(4, b"b last".to_vec()).await.expect("append b");
    assert_eq!(b.tree_head().size, last + 1);
    check_tree(&b, last + 1).await;
    a.close().await;
    b.close().await;
}

/// The quota a decision reads from memory is what this writer committed
/// last: exact for one process, a lower bound once another process of the
/// region claims from the same window, where the claim still refuses what
/// the limit does not allow (decision 1160).
async fn the_quota_read_for_a_decision_is_a_lower_bound(store: Store) {
    const LIMIT: u32 = 3;
    const WINDOW: i64 = 1_700_000_000_000;
    let a = store.open().await;
    let b = store.open().await;
    let request = |n: usize| AccessClaim {
        quota: Some(QuotaClaim {
            peer: "440000".into(),
            window_start_unix_ms: WINDOW,
            limit: LIMIT,
        }),
        ..claim("440000", nonce(n))
    };
    let claim_on = |s: &Storage, n: usize| {
        let s = s.clone();
        async move {
            s.append_claimed(QUERY_KIND, request(n), None, move |o| decision_body(n, o))
                .await
                .expect("claimed append")
                .1
        }
    };
    assert_eq!(
        a.quota_used_at_least("440000", WINDOW).await.expect("read"),
        0
    );
    assert_eq!(claim_on(&a, 1).await, ClaimOutcome::Claimed);
    assert_eq!(
        a.quota_used_at_least("440000", WINDOW).await.expect("read"),
        1
    );
    // The other process claims the rest; this one still knows only its own.
    assert_eq!(claim_on(&b, 2).await, ClaimOutcome::Claimed);
    assert_eq!(claim_on(&b, 3).await, ClaimOutcome::Claimed);
    assert_eq!(
        a.quota_used_at_least("440000", WINDOW).await.expect("read"),
        1
    );
    assert_eq!(a.quota_used("440000", WINDOW).await.expect("read"), LIMIT);
    // Its claim reads the store under the lock: the limit holds.
    assert_eq!(claim_on(&a, 4).await, ClaimOutcome::QuotaExceeded);
    assert_eq!(a.quota_used("440000", WINDOW).await.expect("read"), LIMIT);
    a.close().await;
    b.close().await;
}

/// A store catches up with what another writer of the same journal
/// appended (decision 1020) without appending itself.
async fn catch_up_sees_the_other_writer(store: Store) {
    let a = store.open().await;
    let b = store.open().await;
    for i in 0..5 {
        a.append(3, body_of(i)).await.expect("append a");
    }
    for i in 5..8 {
        b.append(3, body_of(i)).await.expect("append b");
    }
    assert_eq!(a.tree_head().size, 5, "a knows only its own appends");
    let head = a.catch_up().await.expect("catch up");
    assert_eq!(head.size, 8);
    assert_eq!(a.tree_head(), head, "the head is published");
    assert_eq!(head.root, root_of_journal(&a).await);
    assert_eq!(b.catch_up().await.expect("nothing new").size, 8);
    a.close().await;
    b.close().await;
}

/// The duties lease (decision 1020): one holder at a time, renewed under
/// the same token, taken by another only once expired or released, the
/// token one more at every change of holder.
async fn the_duties_lease_has_one_holder_and_a_growing_token(store: Store) {
    use credex_node::storage::{DUTIES, LeaseClaim};
    let a = store.open().await;
    let b = store.open().await;
    let ttl = Duration::from_secs(30);
    assert_eq!(
        a.claim_lease(DUTIES, "a", ttl).await.expect("claim"),
        LeaseClaim::Held {
            token: 1,
            taken_from: None,
            taken: true
        }
    );
    match b.claim_lease(DUTIES, "b", ttl).await.expect("claim") {
        LeaseClaim::HeldBy {
            holder,
            token,
            expires_in,
        } => {
            assert_eq!((holder.as_str(), token), ("a", 1));
            assert!(expires_in <= ttl && expires_in > Duration::from_secs(20));
        }
        other => panic!("b took a live lease: {other:?}"),
    }
    assert_eq!(
        a.claim_lease(DUTIES, "a", ttl).await.expect("renew"),
        LeaseClaim::Held {
            token: 1,
            taken_from: None,
            taken: false
        }
    );
    // A release by another than the holder changes nothing.
    b.release_lease(DUTIES, "b").await.expect("release");
    assert!(matches!(
        b.claim_lease(DUTIES, "b", ttl).await.expect("claim"),
        LeaseClaim::HeldBy { token: 1, .. }
    ));
    a.release_lease(DUTIES, "a").await.expect("release");
    assert_eq!(
        b.claim_lease(DUTIES, "b", Duration::ZERO)
            .await
            .expect("take"),
        LeaseClaim::Held {
            token: 2,
            taken_from: Some("a".into()),
            taken: true
        }
    );
    // b's claim of no time has already expired: a takes it back.
    assert_eq!(
        a.claim_lease(DUTIES, "a", ttl).await.expect("take back"),
        LeaseClaim::Held {
            token: 3,
            taken_from: Some("b".into()),
            taken: true
        }
    );
    let long = "h".repeat(credex_node::storage::MAX_HOLDER_LEN + 1);
    assert!(a.claim_lease(DUTIES, &long, ttl).await.is_err());
    a.close().await;
    b.close().await;
}

/// Writes fenced by the duties lease (decision 1020) commit while its token
/// is current and fail alone once another holder took it: the batch's
/// other appends commit, nothing of the fenced write does.
async fn fenced_writes_fail_alone_once_the_lease_moved(store: Store) {
    use credex_node::storage::{DUTIES, Fence, LeaseClaim};
    let a = store.open().await;
    let b = store.open().await;
    let ttl = Duration::from_secs(30);
    let LeaseClaim::Held { token, .. } = a.claim_lease(DUTIES, "a", ttl).await.expect("claim")
    else {
        panic!("a does not hold a fresh lease")
    };
    let duties = a.fenced(Fence {
        duty: DUTIES,
        token,
    });
    duties
        .append_with_state(
            5,
            b"by the holder".to_vec(),
            vec![StateWrite::put("duty", "k", b"1".to_vec())],
        )
        .await
        .expect("a current fence writes");
    duties
        .write_state(vec![StateWrite::put("duty", "k", b"2".to_vec())])
        .await
        .expect("a current fence writes state");

    a.release_lease(DUTIES, "a").await.expect("release");
    assert!(matches!(
        b.claim_lease(DUTIES, "b", ttl).await.expect("take"),
        LeaseClaim::Held { token: t, .. } if t == token + 1
    ));
    let len = a.journal_len().await.expect("len");
    // Side by side, often in one batch: the stale duty's append and an
    // unfenced one.
    let (fenced, plain) = tokio::join!(
        duties.append_with_state(
            5,
            b"too late".to_vec(),
            vec![StateWrite::put("duty", "k", b"3".to_vec())]
        ),
        a.append(6, b"a query".to_vec()),
    );
    match fenced {
        Err(StorageError::Fenced {
            token: t, current, ..
        }) => {
            assert_eq!((t, current), (token, Some(token + 1)));
        }
        other => panic!("a stale fence wrote: {other:?}"),
    }
    assert_eq!(plain.expect("the unfenced append commits"), len);
    assert_eq!(a.journal_len().await.expect("len"), len + 1);
    assert!(matches!(
        duties
            .write_state(vec![StateWrite::put("duty", "k", b"4".to_vec())])
            .await,
        Err(StorageError::Fenced { .. })
    ));
    assert_eq!(
        a.state("duty", "k").await.expect("state"),
        Some(b"2".to_vec()),
        "nothing of a stale duty's writes"
    );
    check_tree(&a, len + 1).await;
    a.close().await;
    b.close().await;
}

/// A journal that lost entries its writer committed (the database replaced
/// under a running node: an asynchronous failover) takes no more appends
/// from that writer: extending the shorter tree would sign a second tree
/// at sizes already published.
async fn a_writer_refuses_a_journal_shorter_than_it_committed(store: Store) {
    let a = store.open().await;
    for i in 0..6 {
        a.append(3, body_of(i)).await.expect("append");
    }
    let b = store.open().await;
    danger::truncate_log(&b, 4)
        .await
        .expect("truncate behind a's back");
    match a.append(3, b"after the loss".to_vec()).await {
        Err(StorageError::Corrupt { detail, .. }) => {
            assert!(detail.contains("ends at 4 records"), "{detail}");
            assert!(detail.contains("committed 6"), "{detail}");
        }
        other => panic!("a appended over a journal that lost entries: {other:?}"),
    }
    assert_eq!(b.journal_len().await.expect("len"), 4, "nothing appended");
    a.close().await;
    b.close().await;
}

/// `subscribe_tree_head` sees every committed head: after an append
/// returns seq n, the head covers n and its root is `tree_root` of its size.
async fn tree_head_is_published(store: Store) {
    let s = store.open().await;
    let mut heads = s.subscribe_tree_head();
    assert_eq!(heads.borrow_and_update().size, 0);
    assert!(!heads.has_changed().expect("sender alive"));
    for i in 0..5 {
        let seq = s.append(kind_of(i), body_of(i)).await.expect("append");
        assert!(s.tree_head().size > seq, "the head lags its append");
        tokio::time::timeout(Duration::from_secs(5), heads.changed())
            .await
            .expect("no head published")
            .expect("sender alive");
        let head = *heads.borrow_and_update();
        assert_eq!(head.size, seq + 1);
        assert_eq!(head.root, s.tree_root(head.size).await.expect("root"));
    }
    let late = s.subscribe_tree_head();
    assert_eq!(late.borrow().size, 5);
    assert!(
        !late.has_changed().expect("sender alive"),
        "a new receiver has seen the head"
    );
    s.close().await;
}

/// Checkpoints queued among appends are stored in the appends' group
/// commit (decision 1130): each is answered on its own — a note in
/// conflict with a stored one fails alone, the appends and the other
/// checkpoints beside it are committed — and what is stored survives
/// reopening.
async fn checkpoints_ride_with_appends(store: Store) {
    let s = store.open().await;
    for i in 0..8 {
        s.append(kind_of(i), body_of(i)).await.expect("append");
    }
    s.store_checkpoint(4, checkpoint_note(4, "a"))
        .await
        .expect("checkpoint 4");
    for round in 0..5u64 {
        let appends = (0..16).map(|i| s.append(kind_of(i), body_of(i)));
        let size = 5 + round;
        let (appended, stored, again, conflict) = tokio::join!(
            futures_join_all(appends.collect()),
            s.store_checkpoint(size, checkpoint_note(size, "a")),
            s.store_checkpoint(4, checkpoint_note(4, "a")),
            s.store_checkpoint(4, checkpoint_note(4, "b")),
        );
        for seq in appended {
            seq.expect("an append beside the checkpoints");
        }
        stored.expect("a new checkpoint beside the appends");
        again.expect("the stored note of size 4 again");
        let err = conflict.expect_err("another note for size 4");
        assert!(
            matches!(err, StorageError::CheckpointConflict { size: 4 }),
            "{err}"
        );
    }
    // Two notes for one new size in one group commit: the first is stored,
    // the second is a conflict.
    let both = s
        .store_checkpoints(vec![
            (9, checkpoint_note(9, "a")),
            (10, checkpoint_note(10, "a")),
            (10, checkpoint_note(10, "b")),
        ])
        .await;
    assert!(both[0].is_ok(), "{both:?}");
    assert!(both[1].is_ok(), "{both:?}");
    assert!(
        matches!(both[2], Err(StorageError::CheckpointConflict { size: 10 })),
        "{both:?}"
    );
    s.close().await;
    let s = store.open().await;
    assert_eq!(
        s.latest_checkpoint().await.expect("latest"),
        Some((10, checkpoint_note(10, "a")))
    );
    assert_eq!(
        s.checkpoint(4).await.expect("checkpoint 4"),
        Some(checkpoint_note(4, "a"))
    );
    assert_eq!(s.tree_head().size, 8 + 5 * 16);
    s.close().await;
}

/// Checkpoints, cosignatures, witnessed checkpoints and evidence round
/// trip, survive reopening, and the store's rules hold.
async fn log_records_round_trip(store: Store) {
    let s = store
        .open_with(StorageOptions {
            clock: Arc::new(FixedClock(1_700_000_000_000)),
            ..StorageOptions::default()
        })
        .await;
    for i in 0..10 {
        s.append(kind_of(i), body_of(i)).await.expect("append");
    }
    assert_eq!(s.latest_checkpoint().await.expect("latest"), None);
    for size in [3u64, 10, 7] {
        s.store_checkpoint(size, checkpoint_note(size, "a"))
            .await
            .expect("store checkpoint");
    }
    s.store_checkpoint(7, checkpoint_note(7, "a"))
        .await
        .expect("the same checkpoint again");
    let err = s
        .store_checkpoint(7, checkpoint_note(7, "b"))
        .await
        .expect_err("another note for a stored size");
    assert!(
        matches!(err, StorageError::CheckpointConflict { size: 7 }),
        "{err}"
    );
    let err = s
        .store_checkpoint(11, checkpoint_note(11, "a"))
        .await
        .expect_err("beyond the tree");
    assert!(
        matches!(
            err,
            StorageError::TreeSizeUnavailable {
                size: 11,
                committed: 10
            }
        ),
        "{err}"
    );
    let err = s
        .store_checkpoint(1, String::new())
        .await
        .expect_err("empty note");
    assert!(
        matches!(err, StorageError::InvalidLogRecord { field: "note", .. }),
        "{err}"
    );

    assert_eq!(s.cosignatures(7).await.expect("none yet"), []);
    s.store_cosignature(7, "witness-b".into(), "— witness-b sig1".into())
        .await
        .expect("cosign");
    s.store_cosignature(7, "witness-a".into(), "— witness-a sig".into())
        .await
        .expect("cosign");
    s.store_cosignature(7, "witness-b".into(), "— witness-b sig2".into())
        .await
        .expect("second cosignature of one witness");
    let err = s
        .store_cosignature(8, "witness-a".into(), "— witness-a sig".into())
        .await
        .expect_err("no checkpoint of size 8");
    assert!(
        matches!(err, StorageError::CheckpointMissing { size: 8 }),
        "{err}"
    );
    for w in 0..MAX_COSIGNATURES {
        s.store_cosignature(3, format!("w{w:03}"), format!("— w{w:03} sig"))
            .await
            .expect("cosign up to the maximum");
    }
    let err = s
        .store_cosignature(3, "one-too-many".into(), "— x sig".into())
        .await
        .expect_err("too many");
    assert!(
        matches!(err, StorageError::TooManyCosignatures { size: 3, .. }),
        "{err}"
    );
    assert_eq!(
        s.cosignatures(3).await.expect("many").len(),
        MAX_COSIGNATURES
    );

    let cq = || "credex/500000/cq-1".to_owned();
    let seen = |size: u64, note: &str| Some((size, note.to_owned()));
    s.set_witnessed(cq(), None, 5, "note 5".into())
        .await
        .expect("witness");
    s.set_witnessed(cq(), seen(5, "note 5"), 9, "note 9".into())
        .await
        .expect("witness forward");
    s.set_witnessed(cq(), seen(9, "note 9"), 9, "note 9 cosigned".into())
        .await
        .expect("same size again");
    let err = s
        .set_witnessed(cq(), seen(9, "note 9 cosigned"), 8, "note 8".into())
        .await
        .expect_err("going back");
    assert!(
        matches!(
            &err,
            StorageError::WitnessedRegression {
                stored: 9,
                offered: 8,
                ..
            }
        ),
        "{err}"
    );
    // Compare-and-set: decided against a state that is no longer stored.
    for stale in [None, seen(5, "note 5"), seen(9, "note 9")] {
        let err = s
            .set_witnessed(cq(), stale, 12, "note 12".into())
            .await
            .expect_err("stale previous");
        assert!(
            matches!(&err, StorageError::WitnessedConflict { .. }),
            "{err}"
        );
    }
    assert_eq!(
        s.witnessed(&cq()).await.expect("read"),
        seen(9, "note 9 cosigned")
    );
    s.set_witnessed("credex/510000/cd-1".into(), None, 1, "other log".into())
        .await
        .expect("another log");

    let fork = |n: &str| {
        (
            "credex/500000/cq-1".to_owned(),
            "fork".to_owned(),
            format!("checkpoint A{n}"),
            format!("checkpoint B{n}"),
            format!("two roots for size {n}"),
        )
    };
    let mut ids = Vec::new();
    for (origin, kind, first, second, detail) in [fork("1"), fork("2"), fork("1")] {
        ids.push(
            s.store_evidence(origin, kind, first, second, detail)
                .await
                .expect("evidence"),
        );
    }
    assert_eq!(ids[0], ids[2], "the same evidence is stored once");
    assert_ne!(ids[0], ids[1]);
    let err = s
        .store_evidence(
            "o".into(),
            "fork".into(),
            "a".into(),
            "b".into(),
            "x".repeat(MAX_EVIDENCE_DETAIL_LEN + 1),
        )
        .await
        .expect_err("detail too long");
    assert!(
        matches!(
            err,
            StorageError::InvalidLogRecord {
                field: "detail",
                ..
            }
        ),
        "{err}"
    );
    s.close().await;

    let s = store.open().await;
    assert_eq!(
        s.latest_checkpoint().await.expect("latest"),
        Some((10, checkpoint_note(10, "a")))
    );
    assert_eq!(
        s.checkpoint(7).await.expect("7"),
        Some(checkpoint_note(7, "a"))
    );
    assert_eq!(s.checkpoint(8).await.expect("8"), None);
    assert_eq!(s.checkpoint(u64::MAX).await.expect("huge"), None);
    assert_eq!(
        s.checkpoints_after(3, 10).await.expect("after 3"),
        [(7, checkpoint_note(7, "a")), (10, checkpoint_note(10, "a"))]
    );
    assert_eq!(
        s.checkpoints_after(0, 1).await.expect("limit"),
        [(3, checkpoint_note(3, "a"))]
    );
    assert_eq!(
        s.cosignatures(7).await.expect("cosignatures"),
        [
            ("witness-a".to_owned(), "— witness-a sig".to_owned()),
            ("witness-b".to_owned(), "— witness-b sig1".to_owned()),
        ]
    );
    assert_eq!(
        s.witnessed("credex/500000/cq-1").await.expect("witnessed"),
        Some((9, "note 9 cosigned".to_owned()))
    );
    assert_eq!(
        s.witnessed("credex/000000/nobody").await.expect("none"),
        None
    );
    let evidence = s.evidence().await.expect("evidence");
    assert_eq!(evidence.len(), 2);
    let (origin, kind, first, second, detail) = fork("2");
    assert_eq!(
        evidence[1],
        EvidenceRecord {
            id: ids[1],
            origin,
            kind,
            first,
            second,
            detail,
            recorded_at_unix_ms: 1_700_000_000_000,
        }
    );
    assert_eq!(
        s.evidence_after(ids[0], 10).await.expect("after"),
        evidence[1..]
    );
    s.close().await;
}

/// The `danger` edits change what an operator could change and leave the
/// tree alone, so the journal no longer matches its stored root;
/// An operator's rewrite (`danger::rewrite_log`) moves the attachment of
/// each record it appends again to the record's new seq and drops those of
/// the records it leaves out; after `truncate_log`, an attachment left at a
/// seq by a journal row deleted behind the node's back is replaced by the
/// entry written there next, not an error that stops the log.
async fn attachments_follow_a_rewrite_and_a_stale_row_gives_way(store: Store) {
    let s = store.open().await;
    let claimed = |n: u8| {
        let s = s.clone();
        async move {
            let content = vec![n; 64];
            s.append_claimed(
                QUERY_KIND,
                claim("520000", nonce(usize::from(n))),
                Some(Attachment::new([n; 32], content.clone())),
                move |o| decision_body(usize::from(n), o),
            )
            .await
            .expect("claimed")
            .0
        }
    };
    s.append(2, b"plain".to_vec()).await.expect("plain");
    let a = claimed(1).await;
    s.append(2, b"plain".to_vec()).await.expect("plain");
    let b = claimed(2).await;
    let c = claimed(3).await;
    let kept = danger::rewrite_log(&s, a, |r| r.seq != a)
        .await
        .expect("rewrite");
    assert_eq!(kept, vec![a, a + 1, a + 2], "three records appended again");
    assert_eq!(
        s.entry_attachment(a + 1, &[2; 32]).await.expect("read"),
        Some(vec![2; 64]),
        "b's attachment moved from {b} to {}",
        a + 1
    );
    assert_eq!(
        s.entry_attachment(a + 2, &[3; 32]).await.expect("read"),
        Some(vec![3; 64]),
        "c's attachment moved from {c}"
    );
    assert_eq!(s.entry_attachment(a, &[1; 32]).await.expect("read"), None);
    assert_eq!(s.entry_attachment(c, &[3; 32]).await.expect("read"), None);

    // A row at the next seq, left behind by a deleted journal row.
    let next = s.journal_len().await.expect("len");
    let stale = match store.backend() {
        Backend::Sqlite => format!(
            "INSERT INTO entry_attachments (seq, digest, body, assembled) VALUES ({next}, X'{}', X'00', 0)",
            hex::encode([9u8; 32])
        ),
        Backend::Postgres => format!(
            "INSERT INTO entry_attachments (seq, digest, body, assembled) VALUES ({next}, '\\x{}'::bytea, '\\x00'::bytea, false)",
            hex::encode([9u8; 32])
        ),
    };
    assert_eq!(danger::execute_raw(&s, &stale).await.expect("stale"), 1);
    let d = claimed(4).await;
    assert_eq!(d, next);
    assert_eq!(
        s.entry_attachment(d, &[4; 32]).await.expect("read"),
        Some(vec![4; 64])
    );
    assert_eq!(s.entry_attachment(d, &[9; 32]).await.expect("read"), None);
    s.close().await;
}

/// `truncate_log` rewinds journal, tree and checkpoints together, and the
/// log then continues (forks) from there.
async fn danger_edits_break_the_tree(store: Store) {
    let s = store.open().await;
    for i in 0..8 {
        s.append(kind_of(i), body_of(i)).await.expect("append");
    }
    let head = s.tree_head();
    let original = journal_leaves(&s).await;
    s.store_checkpoint(8, "checkpoint 8".into())
        .await
        .expect("checkpoint");
    s.store_checkpoint(4, "checkpoint 4".into())
        .await
        .expect("checkpoint");
    s.store_cosignature(8, "w".into(), "— w sig".into())
        .await
        .expect("cosign");
    assert_eq!(root_of_journal(&s).await, head.root);

    let overwritten = danger::overwrite_journal_body(&s, 3, b"rewritten".to_vec()).await;
    assert_eq!(overwritten.expect("overwrite"), 1);
    assert_eq!(danger::swap_journal_rows(&s, 1, 2).await.expect("swap"), 2);
    assert_eq!(danger::delete_journal_row(&s, 5).await.expect("delete"), 1);
    let replaced = danger::replace_checkpoint(&s, 8, "forged".into()).await;
    assert_eq!(replaced.expect("replace checkpoint"), 1);
    assert_eq!(
        danger::overwrite_journal_body(&s, 99, Vec::new())
            .await
            .expect("none"),
        0
    );
    assert_eq!(danger::swap_journal_rows(&s, 1, 99).await.expect("none"), 0);
    let records = s.journal_range(0, 10).await.expect("range");
    assert_eq!(records.len(), 7, "one record deleted");
    assert_eq!(records[3].body, b"rewritten");
    assert_eq!(
        (records[1].body.clone(), records[2].body.clone()),
        (body_of(2), body_of(1))
    );
    assert_eq!(
        s.checkpoint(8).await.expect("checkpoint"),
        Some("forged".into())
    );
    assert_eq!(
        s.tree_root(8).await.expect("root"),
        head.root,
        "the tree was not touched"
    );
    assert_eq!(s.tree_head(), head);

    // Rewind to 4 records and append others: a fork of the first log.
    assert_eq!(danger::truncate_log(&s, 4).await.expect("truncate"), 3);
    assert_eq!(s.tree_head().size, 4);
    assert_eq!(
        s.latest_checkpoint().await.expect("latest"),
        Some((4, "checkpoint 4".into()))
    );
    for i in 0..4 {
        s.append(kind_of(100 + i), body_of(100 + i))
            .await
            .expect("append");
    }
    // The tree continues from the original first four leaves (the edits
    // above changed the journal, not the tree).
    let mut forked = original[..4].to_vec();
    forked.extend_from_slice(&journal_leaves(&s).await[4..]);
    assert_eq!(forked.len(), 8);
    assert_eq!(s.tree_head().size, 8);
    assert_eq!(s.tree_head().root, root_from_leaf_hashes(&forked));
    assert_eq!(s.tree_root(8).await.expect("root"), s.tree_head().root);
    assert_ne!(s.tree_head().root, head.root, "the fork has another root");

    // Deleting the last record does not let the next append overwrite the
    // stored hashes: the writer sees a journal shorter than it committed,
    // and appends fail until the node restarts on the store.
    let forked_head = s.tree_head();
    assert_eq!(danger::delete_journal_row(&s, 7).await.expect("delete"), 1);
    let err = s.append(1, b"over".to_vec()).await.expect_err("append");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    assert_eq!(s.tree_head(), forked_head);
    s.close().await;
    let s = store.open().await;
    assert_eq!(s.tree_head().size, 7, "the journal's size");
    assert_eq!(
        s.tree_head().root,
        root_from_leaf_hashes(&forked[..7]),
        "the stored tree of the remaining records"
    );
    s.close().await;
}

/// A journal written before the Merkle log existed (simulated by deleting
/// the stored hashes) gets its tree computed when opened, across several
/// backfill transactions, and the result is the journal's tree.
async fn old_journals_get_their_tree(store: Store) {
    let s = store.open().await;
    let n = append_mixed(&s, 0, 4500).await;
    let expected = s.tree_head();
    assert_eq!(expected.size, n);
    danger::execute_raw(&s, "DELETE FROM tree_hashes WHERE idx >= 4")
        .await
        .expect("delete hashes");
    s.close().await;

    let s = store.open().await;
    assert_eq!(s.tree_head(), expected);
    check_tree(&s, n).await;
    check_proofs(&s, 99).await;
    s.close().await;
}

/// Not a check: prints append throughput with 1 and 64 concurrent callers,
/// with and without the batch delay. Run with
/// `cargo test -p credex-node --release --test storage_suite -- --ignored --nocapture`.
async fn append_throughput(store: Store) {
    const BODY: [u8; 64] = [0x5a; 64];
    for delay in [Duration::ZERO, credex_node::storage::MAX_BATCH_DELAY] {
        for (callers, total) in [(1usize, 1_000usize), (16, 10_000), (64, 20_000)] {
            let s = store
                .open_with(StorageOptions {
                    max_batch_delay: delay,
                    ..StorageOptions::default()
                })
                .await;
            let started = Instant::now();
            let tasks: Vec<_> = (0..callers)
                .map(|_| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        for _ in 0..total / callers {
                            let t = Instant::now();
                            s.append(1, BODY.to_vec()).await.expect("append");
                            latencies.push(t.elapsed());
                        }
                        latencies
                    })
                })
                .collect();
            let mut latencies = Vec::new();
            for t in tasks {
                latencies.extend(t.await.expect("task"));
            }
            let elapsed = started.elapsed();
            latencies.sort_unstable();
            let stats = s.stats();
            eprintln!(
                "{:?} delay {delay:?} callers {callers:>2}: {:>7.0} appends/s, {:>5} commits, \
                 mean batch {:>5.1}, p50 {:?}, p99 {:?}",
                store.backend(),
                stats.appends as f64 / elapsed.as_secs_f64(),
                stats.commits,
                stats.appends as f64 / stats.commits as f64,
                latencies[latencies.len() / 2],
                latencies[latencies.len() * 99 / 100],
            );
            s.close().await;
        }
    }
}

/// Flow state: puts, replaces, deletes and ordered prefix scans; state
/// written with a record commits with it and survives a reopen; a claimed
/// append that turns out a replay applies none of its state writes.
async fn flow_state_commits_with_its_record(store: Store) {
    let s = store.open().await;
    assert_eq!(s.state("outbox", "a").await.expect("read"), None);
    let seq = s
        .append_with_state(
            QUERY_KIND,
            b"listed".to_vec(),
            vec![
                StateWrite::put("lists", "e1/440000", b"sent".to_vec()),
                StateWrite::put("lists", "e1/500000", b"sent".to_vec()),
                StateWrite::put("lists", "e2/440000", b"sent".to_vec()),
                StateWrite::put("other", "e1/440000", b"x".to_vec()),
            ],
        )
        .await
        .expect("append with state");
    assert_eq!(seq, 0);
    s.write_state(vec![
        StateWrite::put("lists", "e1/500000", b"acknowledged".to_vec()),
        StateWrite::delete("lists", "e2/440000"),
    ])
    .await
    .expect("write state");
    let e1 = s.state_scan("lists", "e1/", None, 10).await.expect("scan");
    assert_eq!(
        e1,
        vec![
            ("e1/440000".to_owned(), b"sent".to_vec()),
            ("e1/500000".to_owned(), b"acknowledged".to_vec()),
        ]
    );
    let page = s
        .state_scan("lists", "e1/", Some("e1/440000"), 10)
        .await
        .expect("page");
    assert_eq!(page.len(), 1, "{page:?}");
    assert_eq!(
        s.state_scan("lists", "e2/", None, 10).await.expect("scan"),
        vec![]
    );
    assert!(
        s.state_scan("lists", "", None, MAX_STATE_SCAN + 1)
            .await
            .is_err()
    );

    let writes = || vec![StateWrite::put("inbox", "m1", b"applied".to_vec())];
    let (_, first) = s
        .append_claimed_with_state(
            QUERY_KIND,
            claim("500000", nonce(9)),
            None,
            writes(),
            |_| b"first".to_vec(),
        )
        .await
        .expect("first delivery");
    assert_eq!(first, ClaimOutcome::Claimed);
    s.write_state(vec![StateWrite::put(
        "inbox",
        "m1",
        b"changed later".to_vec(),
    )])
    .await
    .expect("change");
    let (_, second) = s
        .append_claimed_with_state(
            QUERY_KIND,
            claim("500000", nonce(9)),
            None,
            writes(),
            |_| b"second".to_vec(),
        )
        .await
        .expect("second delivery");
    assert_eq!(second, ClaimOutcome::Replay);
    s.close().await;

    let s = store.open().await;
    assert_eq!(
        s.state("inbox", "m1").await.expect("read"),
        Some(b"changed later".to_vec()),
        "the replay applied no state write"
    );
    assert_eq!(
        s.state("lists", "e1/500000").await.expect("read"),
        Some(b"acknowledged".to_vec())
    );
    assert_eq!(s.journal_len().await.expect("len"), 3);
    s.close().await;
}

/// Several handles opening a brand-new store at the same moment (a node
/// and a CLI command, say) all succeed: the migrations run once.
async fn concurrent_opens_of_a_new_store_succeed(store: Store) {
    let opens: Vec<_> = (0..4)
        .map(|_| store.try_open_with(StorageOptions::default()))
        .collect();
    let mut handles = Vec::new();
    for (i, result) in futures_join_all(opens).await.into_iter().enumerate() {
        handles.push(result.unwrap_or_else(|e| panic!("open {i}: {e}")));
    }
    let seq = handles[0]
        .append(QUERY_KIND, b"x".to_vec())
        .await
        .expect("append");
    assert_eq!(seq, 0);
    for h in handles {
        h.close().await;
    }
}

async fn futures_join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(pinned.len());
    // Poll all of them concurrently on this task.
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out.len() <= i {
                out.push(None);
            }
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(out.drain(..).flatten().collect::<Vec<_>>())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// A natural person imported with aliases of epoch 1 is found under it; an
/// alias of epoch 2 added later finds the same records; dropping epoch 1
/// leaves only epoch 2. An alias of a person not in the vault is refused
/// and changes nothing; the vault pages in key order.
async fn subject_aliases_find_records_under_every_epoch(store: Store) {
    let s = store.open().await;
    let p = |epoch: u32, byte: u8| SubjectPseudonym {
        epoch,
        mac: [byte; 32],
    };
    let person = |key: &str, sealed: u8, aliases: Vec<SubjectPseudonym>| SubjectRow {
        subject_key: key.into(),
        sealed_id: vec![sealed; 46],
        aliases,
    };
    let mut rows = sample_records(6);
    for r in &mut rows {
        r.subject_key = if r.subject_key == "subject-0" {
            "n:aa"
        } else {
            "n:bb"
        }
        .into();
    }
    let n = s
        .import_records_of_subjects(
            rows,
            vec![
                person("n:aa", 1, vec![p(1, 0xa1)]),
                person("n:bb", 2, vec![p(1, 0xb1)]),
            ],
        )
        .await
        .expect("storage");
    assert_eq!(n, 6);
    let categories: Vec<String> = ["penalty", "license", "B_red_list", "tax_rating"]
        .map(String::from)
        .to_vec();
    let aa = s
        .subject_for(&p(1, 0xa1))
        .await
        .expect("storage")
        .expect("an alias of epoch 1");
    assert_eq!(aa, "n:aa");
    assert_eq!(
        s.records_for(&aa, &categories)
            .await
            .expect("storage")
            .len(),
        2
    );
    assert_eq!(
        s.subject_for(&p(2, 0xa1)).await.expect("storage"),
        None,
        "other epoch"
    );
    assert_eq!(
        s.subject_counts().await.expect("storage"),
        SubjectCounts {
            persons: 2,
            aliases_by_epoch: vec![(1, 2)],
        }
    );
    // A re-import keeps the vault row and the aliases already there.
    s.import_records_of_subjects(Vec::new(), vec![person("n:aa", 9, vec![p(1, 0xa1)])])
        .await
        .expect("storage");
    let page = s.sealed_subjects("", 1).await.expect("storage");
    assert_eq!(page, vec![("n:aa".to_owned(), vec![1; 46])]);
    let rest = s.sealed_subjects("n:aa", 10).await.expect("storage");
    assert_eq!(rest, vec![("n:bb".to_owned(), vec![2; 46])]);

    let alias = |epoch, byte, key: &str| SubjectAlias {
        pseudonym: p(epoch, byte),
        subject_key: key.into(),
    };
    s.update_aliases(
        vec![alias(2, 0xa2, "n:aa"), alias(2, 0xb2, "n:bb")],
        Vec::new(),
    )
    .await
    .expect("storage");
    assert_eq!(
        s.subject_for(&p(2, 0xa2))
            .await
            .expect("storage")
            .as_deref(),
        Some("n:aa")
    );
    assert_eq!(
        s.subject_for(&p(1, 0xa1))
            .await
            .expect("storage")
            .as_deref(),
        Some("n:aa")
    );
    let err = s
        .update_aliases(vec![alias(3, 0xc3, "n:nobody")], vec![1])
        .await
        .expect_err("no such person in the vault");
    assert!(matches!(err, StorageError::Write { .. }), "{err}");
    assert!(
        s.subject_for(&p(1, 0xa1)).await.expect("storage").is_some(),
        "rolled back"
    );
    s.update_aliases(Vec::new(), vec![1])
        .await
        .expect("storage");
    assert_eq!(s.subject_for(&p(1, 0xa1)).await.expect("storage"), None);
    assert_eq!(
        s.subject_for(&p(2, 0xb2))
            .await
            .expect("storage")
            .as_deref(),
        Some("n:bb")
    );
    assert_eq!(
        s.subject_counts().await.expect("storage").aliases_by_epoch,
        vec![(2, 2)]
    );
    let err = s
        .update_aliases(vec![alias(0, 0, "n:aa")], Vec::new())
        .await
        .expect_err("epoch 0");
    assert!(
        matches!(err, StorageError::InvalidSubject { index: 0, .. }),
        "{err}"
    );
    s.close().await;
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::run_sqlite(crate::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::run_postgres(crate::$test).await;
                }
            )*
        }
    };
}

both_backends!(
    append_and_read_back,
    concurrent_appends_are_batched,
    data_survives_reopen,
    migrations_are_idempotent,
    record_peer_upserts,
    full_queue_pushes_back,
    bad_inputs_are_explained,
    close_drains_the_queue,
    failed_batch_consumes_no_seq,
    tampering_is_visible,
    same_nonce_is_claimed_once,
    nonces_claimed_by_another_writer_are_replays,
    authorization_uses_are_bounded,
    quota_is_counted_per_window,
    claims_survive_reopen,
    failed_batch_rolls_back_claims,
    claim_write_that_changes_nothing_fails,
    bad_build_fails_only_its_caller,
    bad_claims_are_refused,
    attachments_are_kept_by_their_entry,
    attachments_share_their_parts,
    records_import_whole_or_not_at_all,
    records_for_is_bounded,
    concurrent_record_reads_each_get_their_own,
    record_keys_of_subjects_reads_many_at_once,
    record_copies_are_found_by_their_owners_key,
    state_writes_to_one_key_keep_the_last,
    state_writes_of_one_batch_apply_in_queue_order,
    entries_on_claim_follow_only_a_claim_that_holds,
    expired_nonces_are_purged,
    tree_matches_the_journal,
    failed_batch_keeps_the_tree,
    two_writers_share_one_tree,
    the_quota_read_for_a_decision_is_a_lower_bound,
    catch_up_sees_the_other_writer,
    the_duties_lease_has_one_holder_and_a_growing_token,
    fenced_writes_fail_alone_once_the_lease_moved,
    a_writer_refuses_a_journal_shorter_than_it_committed,
    tree_head_is_published,
    log_records_round_trip,
    checkpoints_ride_with_appends,
    danger_edits_break_the_tree,
    attachments_follow_a_rewrite_and_a_stale_row_gives_way,
    old_journals_get_their_tree,
    flow_state_commits_with_its_record,
    concurrent_opens_of_a_new_store_succeed,
    subject_aliases_find_records_under_every_epoch,
);

mod measure {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "measurement, not a check"]
    async fn sqlite_append_throughput() {
        crate::run_sqlite(crate::append_throughput).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "measurement, not a check"]
    async fn postgres_append_throughput() {
        crate::run_postgres(crate::append_throughput).await;
    }
}

// ---------------------------------------------------------------------------
// Fixture

/// Where a test's store lives.
enum Target {
    Sqlite { dir: TempDir, path: PathBuf },
    Postgres { url: String, schema: String },
}

/// One store that a test may open several times.
struct Store {
    target: Target,
}

impl Store {
    fn backend(&self) -> Backend {
        match self.target {
            Target::Sqlite { .. } => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }

    async fn open(&self) -> Storage {
        self.open_with(StorageOptions::default()).await
    }

    async fn open_with(&self, options: StorageOptions) -> Storage {
        self.try_open_with(options)
            .await
            .unwrap_or_else(|e| panic!("opening the test store: {e}"))
    }

    async fn try_open_with(&self, options: StorageOptions) -> Result<Storage, StorageError> {
        match &self.target {
            Target::Sqlite { path, .. } => Storage::open_sqlite_with(path, options).await,
            Target::Postgres { url, schema } => {
                Storage::open_postgres_with(url, Some(schema), options).await
            }
        }
    }

    /// Takes the journal's write lock from another connection, as a second
    /// node process would; the store's writer blocks until release.
    async fn hold_write_lock(&self) -> WriteLock {
        match &self.target {
            Target::Sqlite { path, .. } => {
                let mut conn =
                    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
                        .await
                        .expect("second SQLite connection");
                conn.execute("BEGIN IMMEDIATE")
                    .await
                    .expect("BEGIN IMMEDIATE");
                WriteLock::Sqlite(conn)
            }
            Target::Postgres { url, schema } => {
                let mut conn = PgConnection::connect(url)
                    .await
                    .expect("second PostgreSQL connection");
                for sql in [
                    format!("SET search_path TO \"{schema}\""),
                    "BEGIN".to_owned(),
                    // The writers' advisory lock (see the storage module).
                    "SELECT pg_advisory_xact_lock((x'63726478'::bigint << 32) \
                     | 'journal'::regclass::oid::bigint)"
                        .to_owned(),
                ] {
                    conn.execute(sql.as_str()).await.expect(&sql);
                }
                WriteLock::Postgres(conn)
            }
        }
    }
}

/// A write lock held by a connection outside the store under test.
enum WriteLock {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl WriteLock {
    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut conn) => {
                conn.execute("COMMIT").await.expect("COMMIT");
                conn.close().await.expect("close");
            }
            WriteLock::Postgres(mut conn) => {
                conn.execute("COMMIT").await.expect("COMMIT");
                conn.close().await.expect("close");
            }
        }
    }
}

async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    // A subdirectory that does not exist yet: open must create it.
    let path = dir.path().join("data").join("credex.sqlite");
    let store = Store {
        target: Target::Sqlite { dir, path },
    };
    if let Err(e) = tokio::spawn(test(store)).await {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = match std::env::var("CREDEX_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CREDEX_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("PostgreSQL test skipped (CREDEX_SKIP_POSTGRES=1)");
            return;
        }
        _ => panic!(
            "CREDEX_TEST_POSTGRES_URL is not set. Run (as root) \
             `export CREDEX_TEST_POSTGRES_URL=$(bash scripts/postgres-setup.sh)`, \
             or set CREDEX_SKIP_POSTGRES=1 to skip the PostgreSQL tests"
        ),
    };
    let schema = format!(
        "credex_test_{:016x}",
        RandomState::new().hash_one((std::process::id(), Instant::now()))
    );
    let store = Store {
        target: Target::Postgres {
            url: url.clone(),
            schema: schema.clone(),
        },
    };
    let outcome = tokio::spawn(test(store)).await;
    drop_schema(&url, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn drop_schema(url: &str, schema: &str) {
    let result = async {
        let mut conn = PgConnection::connect(url).await?;
        conn.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
            .await?;
        conn.close().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("could not drop test schema {schema}: {e}");
    }
}

// ---------------------------------------------------------------------------
// Helpers

#[derive(Debug)]
struct FixedClock(i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

fn kind_of(i: usize) -> u16 {
    (i % 65536) as u16
}

fn body_of(i: usize) -> Vec<u8> {
    format!("journal body {i}").into_bytes()
}

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Journal kind used for claimed appends in the tests.
const QUERY_KIND: u16 = 0x0100;

/// A claim of `nonce` by `region` that never expires and uses no
/// authorization or quota.
/// A query's claim: its nonce expires ten minutes from now, as a query's
/// does (twice the clock-skew window), so SQLite keeps it in
/// `recent_nonces` and in its writer's memory (decision 1210).
fn claim(region: &str, nonce: [u8; 16]) -> AccessClaim {
    AccessClaim {
        requester_region: region.into(),
        nonce,
        nonce_expires_at_unix_ms: credex_node::clock::now_ms() + 10 * 60 * 1000,
        authorization_use: None,
        quota: None,
    }
}

/// A claim kept ten years, as a federation message's id is (decision 0650).
fn long_lived_claim(region: &str, nonce: [u8; 16]) -> AccessClaim {
    AccessClaim {
        nonce_expires_at_unix_ms: credex_node::clock::now_ms() + 10 * 365 * 24 * 3600 * 1000,
        ..claim(region, nonce)
    }
}

fn nonce(n: usize) -> [u8; 16] {
    let mut nonce = [0x4e; 16];
    nonce[8..].copy_from_slice(&(n as u64).to_be_bytes());
    nonce
}

/// The journal body a test's `build` writes for request `n`.
fn decision_body(n: usize, outcome: ClaimOutcome) -> Vec<u8> {
    format!("request {n} decided {outcome:?}").into_bytes()
}

/// `n` records over three subjects and four categories (one upper-case, to
/// check byte order), record ids unique per category.
/// What `records_for(subject, categories)` should return from `rows`:
/// ordered by category, then record id.
fn records_of(rows: &[RecordRow], subject: &str, categories: &[String]) -> Vec<StoredRecord> {
    let mut expected: Vec<StoredRecord> = rows
        .iter()
        .filter(|r| r.subject_key == subject && categories.contains(&r.category))
        .map(|r| StoredRecord {
            category: r.category.clone(),
            record_id: r.record_id.clone(),
            body: r.body.clone(),
        })
        .collect();
    expected.sort_by(|a, b| (&a.category, &a.record_id).cmp(&(&b.category, &b.record_id)));
    expected
}

fn sample_records(n: usize) -> Vec<RecordRow> {
    const CATEGORIES: [&str; 4] = ["penalty", "license", "B_red_list", "tax_rating"];
    (0..n)
        .map(|i| RecordRow {
            category: CATEGORIES[i % CATEGORIES.len()].into(),
            record_id: format!("R{:06}", n - i),
            subject_key: format!("subject-{}", i % 3),
            body: format!("record {i}").into_bytes(),
            copy_of: None,
        })
        .collect()
}

/// Installs a trigger that rejects journal records of kind 999.
async fn install_reject_999(store: &Store, s: &Storage) {
    let install = match store.backend() {
        Backend::Sqlite => {
            "CREATE TRIGGER reject_999 BEFORE INSERT ON journal WHEN NEW.kind = 999 \
             BEGIN SELECT RAISE(ABORT, 'kind 999 rejected by the test trigger'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION reject_999() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.kind = 999 THEN \
             RAISE EXCEPTION 'kind 999 rejected by the test trigger'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER reject_999 BEFORE INSERT ON journal \
             FOR EACH ROW EXECUTE FUNCTION reject_999();"
        }
    };
    danger::execute_raw(s, install)
        .await
        .expect("install trigger");
}

/// Appends `count` records from 16 concurrent tasks, every other one a
/// claimed append (unique nonces), and checks they got seqs
/// `next..next + count`. Returns `next + count`.
async fn append_mixed(s: &Storage, next: u64, count: u64) -> u64 {
    const TASKS: u64 = 16;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in (next + t..next + count).step_by(TASKS as usize) {
                    let n = usize::try_from(i).expect("small");
                    let seq = if i % 2 == 0 {
                        s.append(kind_of(n), body_of(n)).await.expect("append")
                    } else {
                        let (seq, outcome) = s
                            .append_claimed(QUERY_KIND, claim("510000", nonce(n)), None, move |o| {
                                decision_body(n, o)
                            })
                            .await
                            .expect("claimed append");
                        assert_eq!(outcome, ClaimOutcome::Claimed);
                        seq
                    };
                    seqs.push(seq);
                }
                seqs
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.expect("appender"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (next..next + count).collect::<Vec<_>>());
    next + count
}

/// The leaf hashes of the journal's entries, recomputed from
/// `journal_range` (seqs must be contiguous from 0).
async fn journal_leaves(s: &Storage) -> Vec<Hash> {
    let mut leaves = Vec::new();
    loop {
        let page = s
            .journal_range(leaves.len() as u64, 4096)
            .await
            .expect("range");
        if page.is_empty() {
            return leaves;
        }
        for record in page {
            assert_eq!(record.seq, leaves.len() as u64, "journal seqs have a gap");
            leaves.push(leaf_hash(&credex_journal::entry_bytes(
                record.kind,
                record.recorded_at_unix_ms,
                &record.body,
            )));
        }
    }
}

/// The RFC 6962 root of the journal's entries, recomputed.
async fn root_of_journal(s: &Storage) -> Hash {
    root_from_leaf_hashes(&journal_leaves(s).await)
}

/// The tree is the journal's: head, stored root of the full size and of a
/// sample of prefixes all equal the roots recomputed from the entries.
async fn check_tree(s: &Storage, size: u64) {
    let leaves = journal_leaves(s).await;
    assert_eq!(leaves.len() as u64, size, "journal length");
    let head = s.tree_head();
    assert_eq!(head.size, size, "head size");
    let root = root_from_leaf_hashes(&leaves);
    assert_eq!(head.root, root, "published root");
    assert_eq!(s.tree_root(size).await.expect("root"), root, "stored root");
    let mut rng = Rng(size | 1);
    for k in (0..=size.min(20)).chain((0..20).map(|_| rng.below(size + 1))) {
        let prefix = &leaves[..usize::try_from(k).expect("small")];
        assert_eq!(
            s.tree_root(k).await.expect("prefix root"),
            root_from_leaf_hashes(prefix),
            "root of the first {k} records"
        );
    }
}

/// Sampled inclusion proofs (index, size) and consistency proofs (old,
/// new) of the committed tree verify against roots from `tree_root`.
async fn check_proofs(s: &Storage, seed: u64) {
    let leaves = journal_leaves(s).await;
    let size = s.tree_head().size;
    assert_eq!(leaves.len() as u64, size);
    let mut rng = Rng(seed | 1);
    let mut roots = std::collections::HashMap::new();
    for round in 0..60 {
        let tree_size = match round {
            0 => size,
            1 => 1,
            _ => 1 + rng.below(size),
        };
        let index = if round == 0 {
            size - 1
        } else {
            rng.below(tree_size)
        };
        let root = match roots.get(&tree_size) {
            Some(root) => *root,
            None => {
                let root = s.tree_root(tree_size).await.expect("root");
                roots.insert(tree_size, root);
                root
            }
        };
        let proof = s
            .inclusion_proof(index, tree_size)
            .await
            .expect("inclusion proof");
        verify_inclusion(&leaves[index as usize], index, tree_size, &proof, &root)
            .unwrap_or_else(|e| panic!("inclusion of {index} in {tree_size}: {e}"));
        if index > 0 {
            assert!(
                verify_inclusion(&leaves[index as usize - 1], index, tree_size, &proof, &root)
                    .is_err(),
                "a proof that cannot fail"
            );
        }
    }
    for round in 0..60 {
        let (old, new) = match round {
            0 => (0, size),
            1 => (size, size),
            2 => (1, size),
            _ => {
                let a = rng.below(size + 1);
                let b = rng.below(size + 1);
                (a.min(b), a.max(b))
            }
        };
        let proof = s
            .consistency_proof(old, new)
            .await
            .expect("consistency proof");
        let old_root = s.tree_root(old).await.expect("old root");
        let new_root = s.tree_root(new).await.expect("new root");
        verify_consistency(old, new, &old_root, &new_root, &proof)
            .unwrap_or_else(|e| panic!("consistency {old} -> {new}: {e}"));
    }
}

/// A note standing in for a signed checkpoint of `size` by `key`.
fn checkpoint_note(size: u64, key: &str) -> String {
    format!("credex/520000/gy-1\n{size}\nroot\n\n— {key} signature\n")
}

/// xorshift64: deterministic samples without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if bound == 0 { 0 } else { self.0 % bound }
    }
}
