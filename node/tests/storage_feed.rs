//! The record feed's storage contract (`Storage::feed_records`, decision
//! 0830), on SQLite and PostgreSQL: a batch commits whole with its
//! sequences, idempotency record and journal entries, exactly once per key,
//! only on the sequence it was checked against; a failed transaction writes
//! nothing; everything survives a reopen.
//!
//! PostgreSQL comes from `CREDEX_TEST_POSTGRES_URL` (see
//! `scripts/postgres-setup.sh`); without it the PostgreSQL tests fail,
//! unless `CREDEX_SKIP_POSTGRES=1`.

#![allow(clippy::unwrap_used)]

use std::future::Future;

use credex_node::storage::{
    FeedBatch, FeedOutcome, RecordKey, RecordRow, SourceAdvance, Storage, StorageError, danger,
};
use tempfile::TempDir;

/// Where a test's store lives.
enum Target {
    Sqlite(TempDir),
    Postgres { url: String, schema: String },
}

impl Target {
    async fn open(&self) -> Storage {
        match self {
            Target::Sqlite(dir) => Storage::open_sqlite(&dir.path().join("feed.db")).await,
            Target::Postgres { url, schema } => Storage::open_postgres(url, Some(schema)).await,
        }
        .unwrap()
    }
}

async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = ()>,
{
    test(Target::Sqlite(tempfile::tempdir().unwrap())).await;
}

async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = match std::env::var("CREDEX_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CREDEX_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("PostgreSQL test skipped (CREDEX_SKIP_POSTGRES=1)");
            return;
        }
        _ => panic!(
            "CREDEX_TEST_POSTGRES_URL is not set (see scripts/postgres-setup.sh), \
             or set CREDEX_SKIP_POSTGRES=1"
        ),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("credex_feed_{}_{nanos}", std::process::id());
    let target = Target::Postgres {
        url: url.clone(),
        schema: schema.clone(),
    };
    let outcome = tokio::spawn(test(target)).await;
    let s = Storage::open_postgres(&url, Some(&schema)).await.unwrap();
    danger::execute_raw(&s, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
    s.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::run_sqlite(crate::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::run_postgres(crate::$test).await;
                }
            )*
        }
    };
}

both_backends!(
    a_batch_commits_whole_and_once,
    concurrent_retries_apply_once,
    only_the_checked_sequence_is_applied,
    a_failed_batch_writes_nothing,
    deletes_need_the_subject,
);

const CLIENT: &str = "urn:credex:client:520000:feed:credit-platform";

fn row(record_id: &str, subject_key: &str, body: &[u8]) -> RecordRow {
    RecordRow {
        category: "admin_penalty".into(),
        record_id: record_id.into(),
        subject_key: subject_key.into(),
        body: body.to_vec(),
        copy_of: None,
    }
}

/// A batch under `key` upserting `rows` as `source` seqs `first..`.
fn batch(key: &str, digest: u8, source: &str, first: u64, rows: Vec<RecordRow>) -> FeedBatch {
    let last = first + rows.len() as u64 - 1;
    FeedBatch {
        client: CLIENT.into(),
        idempotency_key: key.into(),
        request_digest: [digest; 32],
        answer: format!("{{\"last_seq\":{last}}}").into_bytes(),
        upserts: rows,
        deletes: Vec::new(),
        subjects: Vec::new(),
        sequences: vec![SourceAdvance {
            source: source.into(),
            first,
            last,
        }],
        entries: vec![(52, format!("fed {key}").into_bytes())],
    }
}

async fn penalties(s: &Storage, subject_key: &str) -> Vec<String> {
    s.records_for(subject_key, &["admin_penalty".into()])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record_id)
        .collect()
}

/// Applied once: records, sequence, answer, journal entry and tree; a
/// retry is a replay, another body under the key is refused; all of it
/// after a reopen too.
async fn a_batch_commits_whole_and_once(target: Target) {
    let s = target.open().await;
    let b = batch(
        "k1",
        1,
        "market",
        1,
        vec![row("a", "S1", b"1"), row("b", "S1", b"2")],
    );
    let outcome = s.feed_records(b.clone()).await.unwrap();
    assert_eq!(
        outcome,
        FeedOutcome::Applied {
            first_journal_seq: 0
        }
    );
    assert_eq!(penalties(&s, "S1").await, ["a", "b"]);
    assert_eq!(s.feed_last_seq("market").await.unwrap(), 2);
    assert_eq!(s.journal_len().await.unwrap(), 1);
    assert_eq!(s.tree_head().size, 1, "the entry is in the published tree");
    let stored = s.feed_answer(CLIENT, "k1").await.unwrap().unwrap();
    assert_eq!(stored.request_digest, [1; 32]);
    assert_eq!(stored.answer, b.answer);

    let replay = s.feed_records(b.clone()).await.unwrap();
    assert_eq!(
        replay,
        FeedOutcome::Replay {
            answer: b.answer.clone()
        }
    );
    let other = batch("k1", 2, "market", 3, vec![row("c", "S1", b"3")]);
    assert_eq!(s.feed_records(other).await.unwrap(), FeedOutcome::KeyReused);
    // The same key of another client is another key.
    let mut theirs = batch("k1", 2, "courts", 1, vec![row("c", "S1", b"3")]);
    theirs.client = "urn:credex:client:520000:feed:court-system".into();
    assert!(matches!(
        s.feed_records(theirs).await.unwrap(),
        FeedOutcome::Applied {
            first_journal_seq: 1
        }
    ));
    s.close().await;

    let s = target.open().await;
    assert_eq!(s.feed_last_seq("market").await.unwrap(), 2);
    assert_eq!(s.feed_last_seq("courts").await.unwrap(), 1);
    assert_eq!(s.journal_len().await.unwrap(), 2);
    assert_eq!(
        s.feed_records(b.clone()).await.unwrap(),
        FeedOutcome::Replay { answer: b.answer }
    );
    assert_eq!(s.record_count().await.unwrap(), 3);
    s.close().await;
}

/// Two copies of a batch queued together (a retry racing the original,
/// both past the handler's check): the writer applies one and answers the
/// other from the idempotency record.
async fn concurrent_retries_apply_once(target: Target) {
    let s = target.open().await;
    let b = batch("k1", 1, "market", 1, vec![row("a", "S1", b"1")]);
    let (x, y) = tokio::join!(s.feed_records(b.clone()), s.feed_records(b.clone()));
    let mut outcomes = [x.unwrap(), y.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, FeedOutcome::Replay { .. }));
    assert_eq!(
        outcomes,
        [
            FeedOutcome::Applied {
                first_journal_seq: 0
            },
            FeedOutcome::Replay { answer: b.answer }
        ]
    );
    assert_eq!(s.journal_len().await.unwrap(), 1);
    assert_eq!(s.feed_last_seq("market").await.unwrap(), 1);
    s.close().await;
}

/// A batch checked against a sequence another batch moved meanwhile is
/// not applied, and its key stays free.
async fn only_the_checked_sequence_is_applied(target: Target) {
    let s = target.open().await;
    s.feed_records(batch("k1", 1, "market", 1, vec![row("a", "S1", b"1")]))
        .await
        .unwrap();
    for first in [1, 3] {
        let late = batch("k2", 2, "market", first, vec![row("b", "S1", b"2")]);
        assert_eq!(
            s.feed_records(late).await.unwrap(),
            FeedOutcome::SequenceMoved {
                source: "market".into(),
                last_seq: 1
            }
        );
    }
    assert_eq!(penalties(&s, "S1").await, ["a"]);
    assert_eq!(s.journal_len().await.unwrap(), 1);
    assert!(s.feed_answer(CLIENT, "k2").await.unwrap().is_none());
    let next = batch("k2", 2, "market", 2, vec![row("b", "S1", b"2")]);
    assert!(matches!(
        s.feed_records(next).await.unwrap(),
        FeedOutcome::Applied { .. }
    ));
    // Out-of-range batches are refused before queueing.
    let mut bad = batch("k3", 3, "market", 3, vec![row("c", "S1", b"3")]);
    bad.sequences[0].first = 0;
    assert!(matches!(
        s.feed_records(bad).await,
        Err(StorageError::InvalidFeed { .. })
    ));
    s.close().await;
}

/// A transaction that fails half-way (its last insert, the idempotency
/// record, is refused after the records were written) leaves records,
/// journal, tree and sequences as they were.
async fn a_failed_batch_writes_nothing(target: Target) {
    let s = target.open().await;
    s.feed_records(batch("k1", 1, "market", 1, vec![row("a", "S1", b"1")]))
        .await
        .unwrap();
    let head = s.tree_head();
    danger::execute_raw(
        &s,
        "ALTER TABLE feed_idempotency DROP COLUMN created_at_unix_ms",
    )
    .await
    .unwrap();
    let doomed = batch(
        "k2",
        2,
        "market",
        2,
        vec![row("b", "S1", b"2"), row("a", "S1", b"9")],
    );
    assert!(s.feed_records(doomed).await.is_err());
    assert_eq!(s.record_count().await.unwrap(), 1);
    let kept = s
        .records_for("S1", &["admin_penalty".into()])
        .await
        .unwrap();
    assert_eq!(kept[0].body, b"1", "the replaced record is the old one");
    assert_eq!(s.feed_last_seq("market").await.unwrap(), 1);
    assert_eq!(s.journal_len().await.unwrap(), 1);
    assert_eq!(s.tree_head(), head);
    // The writer carries on with other work.
    assert_eq!(s.append(1, b"after".to_vec()).await.unwrap(), 1);
    s.close().await;
}

/// A delete removes the record only if it is the named subject's.
async fn deletes_need_the_subject(target: Target) {
    let s = target.open().await;
    s.feed_records(batch("k1", 1, "market", 1, vec![row("a", "S1", b"1")]))
        .await
        .unwrap();
    let delete = |key: &str, seq: u64, subject: &str| FeedBatch {
        upserts: Vec::new(),
        deletes: vec![RecordKey {
            category: "admin_penalty".into(),
            record_id: "a".into(),
            subject_key: subject.into(),
        }],
        ..batch(key, seq as u8, "market", seq, vec![row("x", "x", b"x")])
    };
    s.feed_records(delete("k2", 2, "S2")).await.unwrap();
    assert_eq!(penalties(&s, "S1").await, ["a"], "another subject's delete");
    s.feed_records(delete("k3", 3, "S1")).await.unwrap();
    assert!(penalties(&s, "S1").await.is_empty());
    assert_eq!(s.feed_last_seq("market").await.unwrap(), 3);
    s.close().await;
}
