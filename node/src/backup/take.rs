//! Taking a snapshot (`credex backup`), while the node runs.

use std::path::Path;

use super::{BackupError, LAYOUT_VERSION, MANIFEST, Manifest, StoredFile, digest};
use crate::config::{NodeConfig, StorageTarget};
use crate::file_modes::{create_private_dir, write_private};
use crate::storage::Storage;

/// Take a snapshot of the node `config` describes into the new directory
/// `out`, reading its database through `storage` (open on the same
/// database; the node may be running). Returns the manifest written.
pub async fn take(
    config: &NodeConfig,
    storage: &Storage,
    out: &Path,
    now_ms: i64,
) -> Result<Manifest, BackupError> {
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(BackupError::Target(format!(
            "{}: not empty; a snapshot goes into a new directory",
            out.display()
        )));
    }
    create_private_dir(out).map_err(|e| BackupError::file(out, e))?;
    let (engine, database, log_size) = match &config.storage {
        StorageTarget::Sqlite(_) => {
            let path = out.join("database.sqlite");
            storage
                .snapshot_sqlite(&path)
                .await
                .unwrap_or_else(|| unreachable_engine(storage))?;
            let options = crate::storage::StorageOptions {
                at_rest: crate::boot::at_rest_config(config)?,
                ..crate::storage::StorageOptions::default()
            };
            let copy = Storage::open_sqlite_with(&path, options).await?;
            let size = copy.tree_head().size;
            copy.close().await;
            ("sqlite", path, size)
        }
        StorageTarget::Postgres { url, schema } => {
            let path = out.join("database.pgdump");
            let size = storage.tree_head().size;
            pg_dump(url, schema.as_deref(), &path)?;
            ("postgres", path, size)
        }
    };
    let bytes = std::fs::read(&database).map_err(|e| BackupError::file(&database, e))?;
    let database = StoredFile {
        role: "database".into(),
        original: database.clone(),
        stored: database.file_name().map(Into::into).unwrap_or_default(),
        sha256: digest(&bytes),
    };
    let mut files = Vec::new();
    for (i, (role, original)) in super::files::node_files(config).into_iter().enumerate() {
        let bytes = std::fs::read(&original).map_err(|e| BackupError::file(&original, e))?;
        let name = original
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stored = Path::new("files").join(format!("{i:03}-{name}"));
        write_private(&out.join(&stored), &bytes)
            .map_err(|e| BackupError::file(&out.join(&stored), e))?;
        files.push(StoredFile {
            role,
            original,
            stored,
            sha256: digest(&bytes),
        });
    }
    let manifest = Manifest {
        version: LAYOUT_VERSION,
        origin: credex_protocol::tlog::credex_origin(config.region, &config.name),
        taken_at_ms: now_ms,
        engine: engine.into(),
        database,
        log_size,
        config: std::path::absolute(&config.path).unwrap_or_else(|_| config.path.clone()),
        files,
        kept_apart: super::files::kept_apart(config),
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::file(&out.join(MANIFEST), e))?;
    write_private(&out.join(MANIFEST), &text)
        .map_err(|e| BackupError::file(&out.join(MANIFEST), e))?;
    Ok(manifest)
}

fn unreachable_engine(storage: &Storage) -> Result<(), crate::storage::StorageError> {
    Err(crate::storage::StorageError::InvalidOptions {
        reason: format!(
            "the configuration names SQLite, but the store at {} is not",
            storage.location()
        ),
    })
}

/// `pg_dump` of the node's database (its schema only, when it has one)
/// into `path`, in the custom format `pg_restore` reads.
fn pg_dump(url: &str, schema: Option<&str>, path: &Path) -> Result<(), BackupError> {
    crate::file_modes::create_private_file(path).map_err(|e| BackupError::file(path, e))?;
    let mut cmd = std::process::Command::new("pg_dump");
    cmd.arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(path);
    if let Some(s) = schema {
        cmd.arg("--schema").arg(s);
    }
    super::restore::with_url(&mut cmd, url);
    super::restore::run_tool("pg_dump", &mut cmd)
}
