//! The many-subject reads the gateway's credit checks use
//! (`Storage::records_of_subjects`, `Storage::state_with_prefixes`), on
//! SQLite and on PostgreSQL (`CREDEX_TEST_POSTGRES_URL`, or
//! `CREDEX_SKIP_POSTGRES=1` to skip, as `storage_suite.rs`).

#![allow(clippy::unwrap_used)]

use std::hash::BuildHasher as _;

use credex_node::storage::{RecordRow, SUBJECTS_PER_READ, StateWrite, Storage};
use sqlx::{Connection as _, Executor as _};

fn row(subject: &str, category: &str, id: &str) -> RecordRow {
    RecordRow {
        category: category.into(),
        record_id: id.into(),
        subject_key: subject.into(),
        body: format!("{subject}/{category}/{id}").into_bytes(),
        copy_of: None,
    }
}

async fn records_of_many_subjects_in_one_read(s: &Storage) {
    // More subjects than one statement names, so the reads are chunked.
    let subjects: Vec<String> = (0..SUBJECTS_PER_READ + 20)
        .map(|i| format!("S{i:05}"))
        .collect();
    let mut rows: Vec<RecordRow> = subjects
        .iter()
        .map(|s| row(s, "admin_penalty", &format!("{s}-1")))
        .collect();
    rows.push(row("S00003", "admin_license", "L-1"));
    rows.push(row("S00003", "admin_penalty", "S00003-0"));
    rows.push(row("OTHER", "admin_penalty", "O-1"));
    s.import_records(rows).await.unwrap();

    let asked = vec![
        "S00003".to_owned(),
        subjects[SUBJECTS_PER_READ + 5].clone(),
        "NOBODY".to_owned(),
    ];
    let got = s.records_of_subjects(&asked).await.unwrap();
    let seen: Vec<(String, String, String)> = got
        .iter()
        .map(|r| {
            (
                r.subject_key.clone(),
                r.record.category.clone(),
                r.record.record_id.clone(),
            )
        })
        .collect();
    let far = &subjects[SUBJECTS_PER_READ + 5];
    assert_eq!(
        seen,
        [
            ("S00003".into(), "admin_license".into(), "L-1".into()),
            ("S00003".into(), "admin_penalty".into(), "S00003-0".into()),
            ("S00003".into(), "admin_penalty".into(), "S00003-1".into()),
            (far.clone(), "admin_penalty".into(), format!("{far}-1")),
        ]
    );
    assert_eq!(got[0].record.body, b"S00003/admin_license/L-1");

    let all = s.records_of_subjects(&subjects).await.unwrap();
    assert_eq!(all.len(), subjects.len() + 2);
    assert!(all.iter().all(|r| r.subject_key != "OTHER"));
}

async fn state_under_many_prefixes(s: &Storage) {
    let keys = [
        "91A/public_credit/440000",
        "91A/tax_credit/500000",
        "91A0/public_credit/440000",
        "91AB/public_credit/440000",
        "91B/public_credit/440000",
        "91C/public_credit/440000",
    ];
    s.write_state(
        keys.iter()
            .map(|k| StateWrite::put("recognition.received", *k, k.as_bytes().to_vec()))
            .chain([StateWrite::put("other.ns", "91A/x", b"no".to_vec())])
            .collect(),
    )
    .await
    .unwrap();
    let got = s
        .state_with_prefixes(
            "recognition.received",
            &["91A/".to_owned(), "91C/".to_owned(), "91Z/".to_owned()],
            100,
        )
        .await
        .unwrap();
    let got: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        got,
        [
            "91A/public_credit/440000",
            "91A/tax_credit/500000",
            "91C/public_credit/440000"
        ]
    );
    assert!(
        s.state_with_prefixes("recognition.received", &[], 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn both(s: Storage) {
    records_of_many_subjects_in_one_read(&s).await;
    state_under_many_prefixes(&s).await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_many_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open_sqlite(&dir.path().join("credex.sqlite"))
        .await
        .unwrap();
    both(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_many_subjects() {
    let url = match std::env::var("CREDEX_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CREDEX_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("PostgreSQL test skipped (CREDEX_SKIP_POSTGRES=1)");
            return;
        }
        _ => panic!(
            "CREDEX_TEST_POSTGRES_URL is not set (see scripts/postgres-setup.sh), \
             or set CREDEX_SKIP_POSTGRES=1 to skip the PostgreSQL tests"
        ),
    };
    let schema = format!(
        "credex_test_checks_{:016x}",
        std::collections::hash_map::RandomState::new()
            .hash_one((std::process::id(), std::time::Instant::now()))
    );
    let s = Storage::open_postgres(&url, Some(&schema)).await.unwrap();
    let outcome = tokio::spawn(both(s)).await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
