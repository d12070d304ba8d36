//! Issue 18 §4: backups that cannot fork the log.
//!
//! Guangdong (gz-1) answers Guizhou's (gy-1) queries, and gy-1 witnesses
//! gz-1's log. gz-1 is backed up, answers more, and its witness cosigns the
//! larger tree; then the old backup is restored. The restored node must not
//! sign a second history at a size it already published: it refuses to
//! start and says what to do; `credex log recover` puts the missing entries
//! back from an export of its log, and then it starts, answers and audits
//! clean. The same with only the head file to go by, a restore whose
//! witnesses are unreachable, a doctored snapshot, and PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use credex_audit::tiles::ExportReadError;
use credex_node::backup;
use credex_node::boot::StartError;
use credex_node::config::{NodeConfig, StorageTarget};
use credex_node::log::head::HeadError;
use credex_node::log::recover::RecoverError;
use credex_node::service::RunningNode;
use credex_tests::{
    Federation, ask, audit_all, authorized_query, gz_penalty_query, import_samples, postgres_url,
    subjects,
};

/// gy-1 asks gz-1 `n` penalty queries.
async fn queries(fed: &Federation, gy: &RunningNode, gz: &RunningNode, n: usize) {
    let subject = subjects("440000")[0].clone();
    for _ in 0..n {
        let q = authorized_query(fed, gy, gz_penalty_query(&subject, &["decision_number"]));
        ask(gy, gz, &q).await;
    }
}

/// gy-1 and gz-1, each the other's peer. The dev federation's other peers
/// (cq-1, national-1) are not running: rounds do not wait the default 10 s
/// handshake for them.
async fn gy_and_gz(fed: &Federation) -> Vec<RunningNode> {
    fed.start_wired_with(&["gy-1", "gz-1"], |c| {
        c.transport.handshake_timeout = Duration::from_secs(1);
    })
    .await
}

/// gz-1's log witnessed now by gy-1; the size cosigned.
async fn witnessed(gz: &RunningNode) -> u64 {
    let round = gz.witness_now().await.unwrap().unwrap();
    assert_eq!(
        round.cosigned_by,
        vec!["520000/gy-1".to_owned()],
        "{:?}",
        round.failures
    );
    assert_eq!(
        round.failures.len(),
        2,
        "cq-1 and national-1 are not running"
    );
    round.head.size
}

fn refusal(result: Result<RunningNode, StartError>) -> HeadError {
    match result {
        Err(StartError::LogHead(e)) => *e,
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("the restored node started and would have signed a fork"),
    }
}

/// Journal length and latest stored checkpoint size of the store `config`
/// names, read with the node stopped.
async fn stored_log(config: &NodeConfig) -> (u64, Option<u64>) {
    let storage = credex_node::service::open_storage(config).await.unwrap();
    let len = storage.journal_len().await.unwrap();
    let cp = storage.latest_checkpoint().await.unwrap().map(|(s, _)| s);
    storage.close().await;
    (len, cp)
}

async fn an_old_backup_restored_is_refused_then_recovered(fed: Federation) {
    let dir = tempfile::tempdir().unwrap();
    let nodes = gy_and_gz(&fed).await;
    let (gy, gz) = (&nodes[0], &nodes[1]);
    import_samples(&fed, gz, "440000").await;
    queries(&fed, gy, gz, 3).await;
    witnessed(gz).await;

    // The backup, taken while gz-1 runs.
    let snapshot = dir.path().join("snapshot");
    let manifest = backup::take(gz.config(), gz.storage(), &snapshot, 0)
        .await
        .unwrap();
    assert!(manifest.log_size > 0);
    assert!(manifest.files.iter().any(|f| f.role == "tls.key"));
    // The pseudonym keys and the key-encryption key stay apart from the
    // database (decisions 0630, 1110).
    assert!(
        manifest
            .files
            .iter()
            .all(|f| !f.role.starts_with("pseudonyms"))
    );
    assert_eq!(manifest.kept_apart.len(), 3, "{:?}", manifest.kept_apart);
    assert!(
        manifest
            .kept_apart
            .iter()
            .any(|p| p.ends_with(credex_kit::dev::STORAGE_KEK)),
        "{:?}",
        manifest.kept_apart
    );
    assert!(gz.storage().encrypted_at_rest());

    // Traffic after the backup, witnessed: the log published more.
    queries(&fed, gy, gz, 4).await;
    let published = witnessed(gz).await;
    assert!(published > manifest.log_size);
    let later = dir.path().join("later-export");
    let chain = std::fs::read_to_string(&gz.config().tls.cert).unwrap();
    gz.export_witnessed(&chain, &later).await.unwrap();

    let config = gz.config().clone();
    let mut nodes = nodes;
    nodes.pop().unwrap().shutdown().await;
    let gy = &nodes[0];

    // Restored onto a machine without the head file: only the witness knows.
    let restored = backup::restore(&snapshot, true).await.unwrap();
    assert!(restored.marker.exists());
    std::fs::remove_file(config.data_dir.join(credex_node::log::head::HEAD_FILE)).unwrap();
    let (len_before, cp_before) = stored_log(&config).await;
    assert_eq!(len_before, manifest.log_size);

    let e = refusal(RunningNode::start(config.clone()).await);
    let HeadError::Behind {
        local,
        published: head,
    } = &e
    else {
        panic!("expected Behind, got {e}");
    };
    assert_eq!(*local, manifest.log_size);
    assert!(head.size >= published, "{e}");
    assert!(head.held_by.contains("520000/gy-1"), "{e}");
    let text = e.to_string();
    for says in ["credex log recover", "credex restore", "fork", "lost"] {
        assert!(
            text.contains(says),
            "the refusal does not say {says:?}: {text}"
        );
    }
    // Nothing appended, nothing signed, no fork seen by the witness.
    assert_eq!(stored_log(&config).await, (len_before, cp_before));
    assert!(gy.storage().evidence().await.unwrap().is_empty());

    // An export that does not begin with this log's entries is refused.
    let other = dir.path().join("gy-export");
    credex_tests::export_log(gy, &other).await;
    let storage = credex_node::service::open_storage(&config).await.unwrap();
    let key_pem = std::fs::read_to_string(&config.tls.key).unwrap();
    let key =
        credex_node::log::LogKey::from_pkcs8_pem(&key_pem, config.region, &config.name).unwrap();
    let wrong = credex_node::log::recover::recover_from_export(&storage, &key, &other).await;
    assert!(
        matches!(
            &wrong,
            Err(RecoverError::Export(ExportReadError::NotSigned { .. }))
        ) && wrong
            .as_ref()
            .is_err_and(|e| e.to_string().contains("not a checkpoint signed by")),
        "{wrong:?}"
    );
    // A doctored copy of the right export is refused by the rule it
    // breaks, and nothing of it is recovered: an entry altered in its
    // bundle, then a hash tile missing.
    let local = storage.tree_head().size;
    let doctorings: [Doctoring; 2] = [
        ("altered-export", alter_an_entry, |e| {
            matches!(e, ExportReadError::EntryBundles { .. })
        }),
        ("holed-export", remove_a_tile, |e| {
            matches!(e, ExportReadError::Tiles { .. })
        }),
    ];
    for (name, doctor, rule) in doctorings {
        let doctored = dir.path().join(name);
        copy_dir(&later, &doctored);
        doctor(&doctored);
        let refused =
            credex_node::log::recover::recover_from_export(&storage, &key, &doctored).await;
        assert!(
            matches!(&refused, Err(RecoverError::Export(e)) if rule(e)),
            "{name}: {refused:?}"
        );
    }
    assert_eq!(storage.tree_head().size, local, "nothing was recovered");
    // The later export puts the missing entries back.
    let r = credex_node::log::recover::recover_from_export(&storage, &key, &later)
        .await
        .unwrap();
    storage.close().await;
    assert_eq!(r.from, manifest.log_size);
    assert!(r.to >= published);
    assert!(r.kinds.contains_key("query_received"), "{:?}", r.kinds);

    // Now it starts (the witness confirms), answers, and both logs audit clean.
    let gz = RunningNode::start(config.clone()).await.unwrap();
    assert!(!restored.marker.exists(), "the start confirmed the restore");
    queries(&fed, gy, &gz, 1).await;
    let report = audit_all(&[gy, &gz], &dir.path().join("audit")).await;
    assert!(report.passed(), "{:?}", report.violations);
    assert!(gy.storage().evidence().await.unwrap().is_empty());
    gz.shutdown().await;
    nodes.pop().unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backup_restored_refuses_to_sign_until_recovered() {
    an_old_backup_restored_is_refused_then_recovered(Federation::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backup_restored_on_postgresql_refuses_to_sign_until_recovered() {
    let Some(url) = postgres_url() else { return };
    let fed = Federation::new();
    let schema = format!("credex_backup_{}", std::process::id());
    let file = fed.node("gz-1").config.clone();
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "[storage]\n",
        &format!("[storage]\nurl = \"{url}\"\nschema = \"{schema}\"\n"),
    );
    std::fs::write(&file, text).unwrap();
    assert!(matches!(
        fed.config("gz-1").storage,
        StorageTarget::Postgres { .. }
    ));
    an_old_backup_restored_is_refused_then_recovered(fed).await;
}

/// gz-1 started alone (its peers are not running) and backed up at once:
/// the federation, the directory holding the snapshot, the node, the
/// snapshot and its manifest.
async fn gz_backed_up() -> (
    Federation,
    tempfile::TempDir,
    RunningNode,
    std::path::PathBuf,
    backup::Manifest,
) {
    let fed = Federation::new();
    let dir = tempfile::tempdir().unwrap();
    let gz = fed.start("gz-1").await;
    let snapshot = dir.path().join("snapshot");
    let manifest = backup::take(gz.config(), gz.storage(), &snapshot, 0)
        .await
        .unwrap();
    (fed, dir, gz, snapshot, manifest)
}

/// A database put back by hand (no `credex restore`, no marker), with no
/// witness reachable: the head file the checkpointer kept is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_put_back_by_hand_is_caught_by_the_head_file() {
    let (_fed, _dir, gz, snapshot, manifest) = gz_backed_up().await;
    let entry = credex_journal::TrustChanged {
        version: credex_journal::ENTRY_VERSION,
        at_ms: 0,
        crl_digests: Vec::new(),
        connections_closed: 0,
    };
    gz.storage().append_entry(&entry).await.unwrap();
    let size = gz.storage().tree_head().size;
    gz.checkpoints().covering(size - 1).await.unwrap();
    let config = gz.config().clone();
    gz.shutdown().await;

    let StorageTarget::Sqlite(db) = &config.storage else {
        unreachable!()
    };
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", db.display()));
    }
    std::fs::copy(snapshot.join("database.sqlite"), db).unwrap();
    let e = refusal(RunningNode::start(config).await);
    let HeadError::Behind { local, published } = &e else {
        panic!("{e}")
    };
    assert_eq!(*local, manifest.log_size);
    assert_eq!(published.size, size);
    assert!(published.held_by.contains("head file"), "{e}");
}

/// After `credex restore`, a node whose witnesses do not answer does not
/// start: it cannot know what its log published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_node_waits_for_a_witness() {
    let (_fed, _dir, gz, snapshot, _) = gz_backed_up().await;
    let mut config = gz.config().clone();
    gz.shutdown().await;
    backup::restore(&snapshot, true).await.unwrap();
    // The dev peers' ports: nobody listens there in this test.
    config.transport.handshake_timeout = Duration::from_millis(300);
    let e = refusal(RunningNode::start(config.clone()).await);
    assert!(matches!(e, HeadError::Unconfirmed { asked: 3, .. }), "{e}");
    assert!(
        e.to_string().contains("will not sign until one does"),
        "{e}"
    );
    assert!(config.data_dir.join("RESTORED").exists());
}

/// A snapshot with one byte changed restores nothing; one that would
/// overwrite a live database needs --force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctored_snapshot_restores_nothing() {
    let (fed, _dir, gz, snapshot, manifest) = gz_backed_up().await;
    let again = backup::take(gz.config(), gz.storage(), &snapshot, 0).await;
    assert!(again.is_err_and(|e| e.to_string().contains("not empty")));
    gz.shutdown().await;
    assert_private(&snapshot);

    let e = backup::restore(&snapshot, false).await.unwrap_err();
    assert!(e.to_string().contains("--force"), "{e}");

    let policy = manifest
        .files
        .iter()
        .find(|f| f.role == "policy.file")
        .unwrap();
    let stored = snapshot.join(&policy.stored);
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&stored, bytes).unwrap();
    let before = std::fs::read(&policy.original).unwrap();
    let e = backup::restore(&snapshot, true).await.unwrap_err();
    assert!(
        matches!(&e, backup::BackupError::Altered { stored: s, .. } if *s == stored),
        "{e}"
    );
    assert_eq!(std::fs::read(&policy.original).unwrap(), before);
    assert!(!fed.config("gz-1").data_dir.join("RESTORED").exists());
}

#[cfg(unix)]
fn assert_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700);
    assert_eq!(mode(&dir.join("database.sqlite")), 0o600);
    assert_eq!(mode(&dir.join("manifest.json")), 0o600);
}

/// A node whose database goes back in time while it runs (here: its own
/// operator rewinds it) learns it from its witness at the next witnessing
/// and stops signing: the receipts it would hand out fail, and a query is
/// refused with nothing released, rather than answered under a forked log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_saw_more_halts_the_checkpointer() {
    let fed = Federation::new();
    let nodes = gy_and_gz(&fed).await;
    let (gy, gz) = (&nodes[0], &nodes[1]);
    import_samples(&fed, gz, "440000").await;
    let before = gz.storage().tree_head().size;
    queries(&fed, gy, gz, 3).await;
    let published = witnessed(gz).await;
    assert!(published > before);

    credex_node::storage::danger::truncate_log(gz.storage(), before)
        .await
        .unwrap();
    let round = gz.witness_now().await;
    assert!(
        matches!(&round, Err(credex_node::log::LogError::Halted(_)))
            || round
                .as_ref()
                .is_ok_and(|r| r.as_ref().is_some_and(|r| r.cosigned_by.is_empty())),
        "{round:?}"
    );
    let reason = gz.checkpoints().halted().expect("the checkpointer halted");
    assert!(reason.contains(&format!("size {published}")), "{reason}");

    let subject = subjects("440000")[0].clone();
    let q = authorized_query(&fed, gy, gz_penalty_query(&subject, &["decision_number"]));
    let region = gz.config().region.to_string();
    let conn = credex_tests::dial(gy, gz, &region, gz.config().name.as_str())
        .await
        .unwrap();
    let trust = gy.transport().trust().current();
    let answer = credex_node::requester::send(&conn, &trust, gy.storage(), &q).await;
    assert!(
        answer
            .as_ref()
            .is_err_and(|e| e.to_string().contains("nothing was released")),
        "{answer:?}"
    );
    // The witness kept no evidence of a fork: no second tree was signed.
    assert!(gy.storage().evidence().await.unwrap().is_empty());
}

/// Copies the export directory `from` to `to`, files and folders.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The first file under `dir`, in name order, however deep.
fn first_file(dir: &Path) -> std::path::PathBuf {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let first = entries.into_iter().next().expect("a non-empty folder");
    if first.is_dir() {
        first_file(&first)
    } else {
        first
    }
}

/// A doctored export: its name, what is done to a copy of a good one, and
/// the rule that must refuse it.
type Doctoring = (&'static str, fn(&Path), fn(&ExportReadError) -> bool);

/// Flips a bit of the last entry in the export's first entry bundle.
fn alter_an_entry(export: &Path) {
    let bundle = first_file(&export.join("tile/entries"));
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&bundle, bytes).unwrap();
}

/// Removes the export's first level-0 hash tile.
fn remove_a_tile(export: &Path) {
    std::fs::remove_file(first_file(&export.join("tile/0"))).unwrap();
}
