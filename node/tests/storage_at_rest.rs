//! Encryption at rest (decision 1110), on SQLite and PostgreSQL: record
//! bodies, attachments and flow state (the outbox) are stored sealed and
//! read back in clear; a sealed value moved to another row or changed does
//! not open; the KEK is rewrapped without touching rows; a new data key
//! leaves old rows readable; a store turned encrypted seals what it held in
//! clear; a missing or wrong KEK stops the open.
//!
//! PostgreSQL comes from `CREDEX_TEST_POSTGRES_URL` (see
//! `scripts/postgres-setup.sh`); without it the PostgreSQL tests fail,
//! unless `CREDEX_SKIP_POSTGRES=1`.
//!
//! ```text
//! cargo test -p credex-node --test storage_at_rest
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use credex_node::storage::{
    AccessClaim, AtRestConfig, BACKFILL_CHUNK, Cipher, ClaimOutcome, FileKek, RecordRow,
    SEALED_OVERHEAD, StateWrite, Storage, StorageError, StorageOptions,
};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Executor};
use tempfile::TempDir;

/// What a record body, an attachment and an outbox value hold: words a
/// person reading the database would recognise.
const RECORD_BODY: &[u8] = b"penalty decision: Zhang San, 91520100MA6DKXXXX1, fine 5000 yuan";
const ATTACHMENT: &[u8] = b"evidence file: dual-authorization bundle of Zhang San";
const OUTBOX_VALUE: &[u8] = b"outbox message to 440000: correction of record R-77";
/// Recognisable fields of the above.
const NEEDLES: [&[u8]; 4] = [
    b"Zhang San",
    b"penalty decision",
    b"evidence file",
    b"outbox message",
];

// ---------------------------------------------------------------------------
// The tests

/// A record, an attachment and an outbox entry are stored sealed: the
/// tables (and, on SQLite, the database files) hold none of their bytes;
/// the node reads them back, also after a reopen.
async fn values_are_stored_sealed(t: Target, cipher: Cipher) {
    let kek = t.kek("kek");
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    assert!(s.encrypted_at_rest());
    write_samples(&s).await;
    check_samples(&s).await;
    assert_eq!(s.data_keys().await.unwrap(), vec![(1, cipher)]);
    s.close().await;

    for (table, value) in [
        ("records", "body"),
        ("entry_attachments", "body"),
        ("flow_state", "value"),
    ] {
        let stored = t.raw_values(table, value).await;
        assert!(!stored.is_empty(), "{table} is empty");
        for v in &stored {
            assert_eq!(v[0], 1, "{table}: format version");
            assert_eq!(v[1..5], [0, 0, 0, 1], "{table}: data key 1");
            for needle in NEEDLES {
                assert!(!contains(v, needle), "{table} holds {needle:?} in clear");
            }
        }
    }
    let lens = t.raw_values("records", "body").await;
    assert_eq!(lens[0].len(), RECORD_BODY.len() + SEALED_OVERHEAD);
    if let Target::Sqlite { dir, .. } = &t {
        // The database and whatever WAL and shared-memory files remain
        // (closing may remove them while this reads).
        let mut read = 0;
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let Ok(bytes) = std::fs::read(file.unwrap().path()) else {
                continue;
            };
            read += bytes.len();
            for needle in NEEDLES {
                assert!(
                    !contains(&bytes, needle),
                    "the database files hold {needle:?}"
                );
            }
        }
        assert!(read > 0);
    }

    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    check_samples(&s).await;
    s.close().await;
}

/// A sealed value copied onto another row does not open, and the error
/// names the table and the row; a changed value does not open either.
async fn moved_or_changed_values_do_not_open(t: Target, cipher: Cipher) {
    let kek = t.kek("kek");
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    s.import_records(vec![
        record("A-1", b"first body"),
        record("A-2", b"second body"),
    ])
    .await
    .unwrap();
    s.write_state(vec![
        StateWrite::put("outbox", "m-1", b"one".to_vec()),
        StateWrite::put("outbox", "m-2", b"two".to_vec()),
    ])
    .await
    .unwrap();
    write_samples(&s).await;
    s.close().await;

    // The body of A-2 put on A-1; outbox m-2's value on m-1.
    t.raw_exec(
        "UPDATE records SET body = (SELECT body FROM records WHERE record_id = 'A-2') \
         WHERE record_id = 'A-1'",
    )
    .await;
    t.raw_exec(
        "UPDATE flow_state SET value = (SELECT value FROM flow_state WHERE key = 'm-2') \
         WHERE key = 'm-1'",
    )
    .await;
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    let err = s
        .records_for("subject-1", &["penalty".to_owned()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("records row (category \"penalty\", record_id \"A-1\")")
            && err.contains("does not open"),
        "{err}"
    );
    let err = s.state("outbox", "m-1").await.unwrap_err().to_string();
    assert!(
        err.contains("flow_state row (ns \"outbox\", key \"m-1\")"),
        "{err}"
    );
    let err = s.open_every_value(|_, _| {}).await.unwrap_err().to_string();
    assert!(
        err.contains("records row (category \"penalty\", record_id \"A-1\")"),
        "verify names the first value that does not open: {err}"
    );
    assert_eq!(
        s.state("outbox", "m-2").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    s.close().await;

    // One bit of the attachment's ciphertext flipped.
    let mut sealed = t.raw_values("entry_attachments", "body").await.remove(0);
    *sealed.last_mut().unwrap() ^= 0x01;
    t.raw_set_attachment(&sealed).await;
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    let err = s
        .entry_attachment(attachment_seq(&s).await, &[0xa7; 32])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "entry_attachments row (digest {})",
            hex::encode([0xa7; 32])
        )) && err.contains("changed"),
        "{err}"
    );
    s.close().await;
}

/// Rewrapping under a new KEK leaves every row readable and the old KEK
/// useless; a new data key seals new rows while old ones stay readable.
async fn rewrap_and_new_data_key(t: Target, cipher: Cipher) {
    let old = t.kek("kek-old");
    let s = t.open(Some(at_rest(&old, cipher))).await.unwrap();
    write_samples(&s).await;
    let before = t.raw_values("records", "body").await;

    let new = t.kek("kek-new");
    assert_eq!(
        s.rewrap_data_keys(Arc::new(new_kek(&new))).await.unwrap(),
        1
    );
    assert_eq!(
        t.raw_values("records", "body").await,
        before,
        "rewrapping touches no row"
    );
    check_samples(&s).await;
    assert_eq!(s.new_data_key().await.unwrap(), 2);
    s.import_records(vec![record("B-1", b"under the second key")])
        .await
        .unwrap();
    s.close().await;

    let err = t.open(Some(at_rest(&old, cipher))).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StorageError::AtRest(_))
            && text.contains("does not unwrap")
            && text.contains(&old.display().to_string()),
        "{text}"
    );

    let s = t.open(Some(at_rest(&new, cipher))).await.unwrap();
    check_samples(&s).await;
    let records = s
        .records_for("subject-1", &["penalty".to_owned()])
        .await
        .unwrap();
    let bodies: Vec<&[u8]> = records.iter().map(|r| r.body.as_slice()).collect();
    assert!(
        bodies.contains(&&b"under the second key"[..]),
        "{records:?}"
    );
    assert_eq!(s.data_keys().await.unwrap(), vec![(1, cipher), (2, cipher)]);
    let key_ids: Vec<[u8; 4]> = t
        .raw_values("records", "body")
        .await
        .iter()
        .map(|v| v[1..5].try_into().unwrap())
        .collect();
    assert!(key_ids.contains(&[0, 0, 0, 1]) && key_ids.contains(&[0, 0, 0, 2]));
    s.close().await;
}

/// A store holding data keys does not open without a KEK, and a KEK file
/// that is missing or open to others is refused naming the file.
async fn a_missing_or_wrong_kek_stops_the_open(t: Target, cipher: Cipher) {
    let kek = t.kek("kek");
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    write_samples(&s).await;
    s.close().await;

    let err = t.open(None).await.unwrap_err().to_string();
    assert!(
        err.contains("encrypted at rest") && err.contains("key_encryption_key"),
        "{err}"
    );
    let other = t.kek("another-kek");
    let err = t
        .open(Some(at_rest(&other, cipher)))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("another-kek"), "{err}");

    let missing = t.dir().join("no-such-kek");
    let err = FileKek::load(&missing).unwrap_err().to_string();
    assert!(err.contains("no-such-kek"), "{err}");
}

/// Values written before encryption was turned on are sealed at the first
/// open with a KEK (more than one chunk of them), and read back.
async fn clear_values_are_sealed_when_turned_on(t: Target, cipher: Cipher) {
    let s = t.open(None).await.unwrap();
    assert!(!s.encrypted_at_rest());
    write_samples(&s).await;
    let many: Vec<RecordRow> = (0..BACKFILL_CHUNK + 7)
        .map(|i| {
            record(
                &format!("C-{i:05}"),
                format!("penalty decision {i}").as_bytes(),
            )
        })
        .collect();
    s.import_records(many).await.unwrap();
    s.close().await;
    assert!(
        t.raw_values("records", "body")
            .await
            .iter()
            .any(|v| contains(v, b"Zhang San")),
        "in clear before"
    );

    let kek = t.kek("kek");
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    check_samples(&s).await;
    s.close().await;
    for (table, value) in [
        ("records", "body"),
        ("entry_attachments", "body"),
        ("flow_state", "value"),
    ] {
        for v in t.raw_values(table, value).await {
            for needle in NEEDLES {
                assert!(!contains(&v, needle), "{table} still holds {needle:?}");
            }
        }
    }
    // A second open finds nothing left to seal and reads the same.
    let s = t.open(Some(at_rest(&kek, cipher))).await.unwrap();
    check_samples(&s).await;
    let imported = s
        .records_for("subject-1", &["penalty".to_owned()])
        .await
        .unwrap();
    assert_eq!(imported.len(), BACKFILL_CHUNK + 7 + 1);
    assert!(imported.iter().any(|r| r.body == b"penalty decision 3"));
    s.close().await;
}

/// Processes opening one new store at once with one KEK all open it (one
/// creates the first data key, the others take it up), and each reads
/// what another sealed.
async fn concurrent_first_opens_share_one_data_key(t: Target, cipher: Cipher) {
    let kek = t.kek("kek");
    let opens = (0..4).map(|_| {
        let config = at_rest(&kek, cipher);
        let t = &t;
        async move { t.open(Some(config)).await }
    });
    let mut stores = Vec::new();
    for (i, opened) in join_all(opens.collect()).await.into_iter().enumerate() {
        stores.push(opened.unwrap_or_else(|e| panic!("open {i}: {e}")));
    }
    write_samples(&stores[0]).await;
    check_samples(&stores[3]).await;
    assert_eq!(stores[1].data_keys().await.unwrap(), vec![(1, cipher)]);
    for s in stores {
        s.close().await;
    }
}

/// Polls every future to completion together (no extra dependency).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

// ---------------------------------------------------------------------------
// Samples

fn record(record_id: &str, body: &[u8]) -> RecordRow {
    RecordRow {
        category: "penalty".into(),
        record_id: record_id.into(),
        subject_key: "subject-1".into(),
        body: body.to_vec(),
        copy_of: None,
    }
}

async fn write_samples(s: &Storage) {
    s.import_records(vec![record("R-77", RECORD_BODY)])
        .await
        .unwrap();
    let claim = AccessClaim {
        requester_region: "440000".into(),
        nonce: [7; 16],
        nonce_expires_at_unix_ms: i64::MAX,
        authorization_use: None,
        quota: None,
    };
    let (_, outcome) = s
        .append_claimed_with_state(
            7,
            claim,
            Some(credex_node::storage::Attachment::new(
                [0xa7; 32],
                ATTACHMENT.to_vec(),
            )),
            vec![StateWrite::put(
                "outbox",
                "440000/0001",
                OUTBOX_VALUE.to_vec(),
            )],
            |_| b"entry naming the attachment".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ClaimOutcome::Claimed);
}

/// The index of the entry that keeps the sample attachment.
async fn attachment_seq(s: &Storage) -> u64 {
    s.journal_range(0, 1024)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.body == b"entry naming the attachment")
        .expect("the sample entry")
        .seq
}

async fn check_samples(s: &Storage) {
    let records = s
        .records_for("subject-1", &["penalty".to_owned()])
        .await
        .unwrap();
    let r77 = records.iter().find(|r| r.record_id == "R-77").unwrap();
    assert_eq!(r77.body, RECORD_BODY);
    let of_subjects = s.records_of_subjects(&["subject-1".into()]).await.unwrap();
    assert!(of_subjects.iter().any(|r| r.record.body == RECORD_BODY));
    assert_eq!(
        s.entry_attachment(attachment_seq(s).await, &[0xa7; 32])
            .await
            .unwrap()
            .as_deref(),
        Some(ATTACHMENT)
    );
    assert_eq!(
        s.state("outbox", "440000/0001").await.unwrap().as_deref(),
        Some(OUTBOX_VALUE)
    );
    let scanned = s.state_scan_all("outbox", "440000/").await.unwrap();
    assert_eq!(
        scanned,
        vec![("440000/0001".to_owned(), OUTBOX_VALUE.to_vec())]
    );
    let prefixed = s
        .state_with_prefixes("outbox", &["440000/".to_owned()], 10)
        .await
        .unwrap();
    assert_eq!(prefixed, scanned);

    // Every value opened, table by table (`credex storage verify`).
    let mut seen = Vec::new();
    let opened = s
        .open_every_value(|table, clear| seen.push((table, clear.to_vec())))
        .await
        .unwrap();
    assert!(opened.records >= 1 && opened.attachments >= 1 && opened.flow_state >= 1);
    for (table, value) in [
        ("records", RECORD_BODY),
        ("entry_attachments", ATTACHMENT),
        ("flow_state", OUTBOX_VALUE),
    ] {
        assert!(
            seen.contains(&(table, value.to_vec())),
            "{table} not visited in clear"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn at_rest(kek: &Path, cipher: Cipher) -> AtRestConfig {
    AtRestConfig {
        kek: Arc::new(FileKek::load(kek).unwrap()),
        cipher,
    }
}

fn new_kek(path: &Path) -> FileKek {
    FileKek::load(path).unwrap()
}

// ---------------------------------------------------------------------------
// Fixture

/// Where a test's store lives; KEK files go in `keys`.
enum Target {
    Sqlite {
        dir: TempDir,
        keys: TempDir,
    },
    Postgres {
        url: String,
        schema: String,
        keys: TempDir,
    },
}

impl Target {
    fn dir(&self) -> &Path {
        match self {
            Target::Sqlite { keys, .. } | Target::Postgres { keys, .. } => keys.path(),
        }
    }

    /// A new KEK file named `name`.
    fn kek(&self, name: &str) -> PathBuf {
        let path = self.dir().join(name);
        FileKek::generate(&path).unwrap();
        path
    }

    fn db(&self) -> PathBuf {
        match self {
            Target::Sqlite { dir, .. } => dir.path().join("credex.db"),
            Target::Postgres { .. } => unreachable!("SQLite only"),
        }
    }

    async fn open(&self, at_rest: Option<AtRestConfig>) -> Result<Storage, StorageError> {
        let options = StorageOptions {
            at_rest,
            ..StorageOptions::default()
        };
        match self {
            Target::Sqlite { .. } => Storage::open_sqlite_with(&self.db(), options).await,
            Target::Postgres { url, schema, .. } => {
                Storage::open_postgres_with(url, Some(schema), options).await
            }
        }
    }

    /// Every stored `column` of `table`, by primary key order, read with
    /// SQL on a connection of its own.
    async fn raw_values(&self, table: &str, column: &str) -> Vec<Vec<u8>> {
        let sql = format!("SELECT {column} FROM {table} ORDER BY 1");
        match self {
            Target::Sqlite { .. } => {
                let mut c = self.sqlite().await;
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(&sql).fetch_all(&mut c).await.unwrap();
                rows.into_iter().map(|r| r.0).collect()
            }
            Target::Postgres { .. } => {
                let mut c = self.postgres().await;
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(&sql).fetch_all(&mut c).await.unwrap();
                rows.into_iter().map(|r| r.0).collect()
            }
        }
    }

    async fn raw_exec(&self, sql: &str) {
        match self {
            Target::Sqlite { .. } => {
                self.sqlite().await.execute(sql).await.unwrap();
            }
            Target::Postgres { .. } => {
                self.postgres().await.execute(sql).await.unwrap();
            }
        }
    }

    async fn raw_set_attachment(&self, body: &[u8]) {
        match self {
            Target::Sqlite { .. } => {
                sqlx::query("UPDATE entry_attachments SET body = ?1")
                    .bind(body)
                    .execute(&mut self.sqlite().await)
                    .await
                    .unwrap();
            }
            Target::Postgres { .. } => {
                sqlx::query("UPDATE entry_attachments SET body = $1")
                    .bind(body)
                    .execute(&mut self.postgres().await)
                    .await
                    .unwrap();
            }
        }
    }

    async fn sqlite(&self) -> SqliteConnection {
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(self.db()))
            .await
            .unwrap()
    }

    async fn postgres(&self) -> PgConnection {
        let Target::Postgres { url, schema, .. } = self else {
            unreachable!("PostgreSQL only")
        };
        let mut c = PgConnection::connect(url).await.unwrap();
        c.execute(format!("SET search_path TO \"{schema}\"").as_str())
            .await
            .unwrap();
        c
    }
}

async fn run_sqlite<F, Fut>(test: F, cipher: Cipher)
where
    F: FnOnce(Target, Cipher) -> Fut,
    Fut: Future<Output = ()>,
{
    let target = Target::Sqlite {
        dir: tempfile::tempdir().unwrap(),
        keys: tempfile::tempdir().unwrap(),
    };
    test(target, cipher).await;
}

async fn run_postgres<F, Fut>(test: F, cipher: Cipher)
where
    F: FnOnce(Target, Cipher) -> Fut,
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
        .as_nanos();
    let schema = format!("credex_at_rest_{}_{nanos}", std::process::id());
    let target = Target::Postgres {
        url: url.clone(),
        schema: schema.clone(),
        keys: tempfile::tempdir().unwrap(),
    };
    let outcome = tokio::spawn(test(target, cipher)).await;
    if let Ok(mut c) = PgConnection::connect(&url).await {
        let _ = c
            .execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
            .await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Each test on SQLite and PostgreSQL, each under SM4-GCM and AES-256-GCM.
macro_rules! both_backends_and_ciphers {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                mod $test {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sm4_gcm() {
                        crate::run_sqlite(crate::$test, credex_node::storage::Cipher::Sm4Gcm).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn aes_256_gcm() {
                        crate::run_sqlite(crate::$test, credex_node::storage::Cipher::Aes256Gcm).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                mod $test {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sm4_gcm() {
                        crate::run_postgres(crate::$test, credex_node::storage::Cipher::Sm4Gcm).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn aes_256_gcm() {
                        crate::run_postgres(crate::$test, credex_node::storage::Cipher::Aes256Gcm).await;
                    }
                }
            )*
        }
    };
}

both_backends_and_ciphers!(
    values_are_stored_sealed,
    moved_or_changed_values_do_not_open,
    rewrap_and_new_data_key,
    a_missing_or_wrong_kek_stops_the_open,
    clear_values_are_sealed_when_turned_on,
    concurrent_first_opens_share_one_data_key,
);
