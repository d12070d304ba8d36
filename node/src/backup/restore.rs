//! Bringing a node back from a snapshot (`credex restore`).

use std::path::{Path, PathBuf};

use super::{BackupError, LAYOUT_VERSION, MANIFEST, Manifest, StoredFile, digest};
use crate::config::{NodeConfig, StorageTarget};
use crate::file_modes::{create_private_dir, write_private};
use crate::log::head::RESTORED_MARKER;

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The snapshot's manifest.
    pub manifest: Manifest,
    /// Files written back.
    pub written: usize,
    /// Files already as the snapshot has them.
    pub unchanged: usize,
    /// Where the database went (path, or PostgreSQL location).
    pub database: String,
    /// The marker that makes the next start confirm the log with the
    /// node's witnesses.
    pub marker: PathBuf,
}

/// Restore the snapshot in `from`: check every file against the manifest,
/// put the files back at their original paths, then the database, and
/// leave the restore marker in the data directory. Files that differ from
/// the snapshot's, and an existing database, are replaced only with
/// `force` (and the node must be stopped). Nothing is written unless every
/// file of the snapshot checks out.
pub async fn restore(from: &Path, force: bool) -> Result<Restored, BackupError> {
    let manifest = read_manifest(from)?;
    let database = checked(from, &manifest.database)?;
    let mut contents = Vec::new();
    for f in &manifest.files {
        contents.push((f, checked(from, f)?));
    }
    let config_bytes = contents
        .iter()
        .find(|(f, _)| f.role == "config")
        .map(|(_, b)| b.clone())
        .ok_or_else(|| BackupError::Manifest {
            path: from.join(MANIFEST),
            reason: "the snapshot holds no configuration file".into(),
        })?;
    let text = String::from_utf8(config_bytes).map_err(|e| BackupError::Config(e.to_string()))?;
    let config = NodeConfig::parse(&text, &manifest.config)
        .map_err(|e| BackupError::Config(e.to_string()))?;
    let differing: Vec<PathBuf> = contents
        .iter()
        .filter(|(f, bytes)| {
            std::fs::read(&f.original).is_ok_and(|now| digest(&now) != digest(bytes))
        })
        .map(|(f, _)| f.original.clone())
        .collect();
    let mut blocking = differing.clone();
    if let StorageTarget::Sqlite(db) = &config.storage
        && db.exists()
    {
        blocking.push(db.clone());
    }
    if !blocking.is_empty() && !force {
        return Err(BackupError::WouldOverwrite { paths: blocking });
    }
    refuse_if_running(&config)?;
    let (mut written, mut unchanged) = (0, 0);
    for (f, bytes) in &contents {
        if std::fs::read(&f.original).is_ok_and(|now| now == *bytes) {
            unchanged += 1;
            continue;
        }
        write_private(&f.original, bytes).map_err(|e| BackupError::file(&f.original, e))?;
        written += 1;
    }
    let database = match &config.storage {
        StorageTarget::Sqlite(db) => {
            put_sqlite(db, &database)?;
            db.display().to_string()
        }
        StorageTarget::Postgres { url, .. } => {
            let dump = from.join(&manifest.database.stored);
            let mut cmd = std::process::Command::new("pg_restore");
            cmd.arg("--clean")
                .arg("--if-exists")
                .arg("--no-owner")
                .arg("--single-transaction")
                .arg(&dump);
            with_url(&mut cmd, url);
            run_tool("pg_restore", &mut cmd)?;
            crate::storage::redact_url(url)
        }
    };
    create_private_dir(&config.data_dir).map_err(|e| BackupError::file(&config.data_dir, e))?;
    let marker = config.data_dir.join(RESTORED_MARKER);
    let note = format!(
        "restored from {} (taken at {} ms, log size {}); the next start confirms the log with the witnesses\n",
        from.display(),
        manifest.taken_at_ms,
        manifest.log_size
    );
    write_private(&marker, note.as_bytes()).map_err(|e| BackupError::file(&marker, e))?;
    Ok(Restored {
        manifest,
        written,
        unchanged,
        database,
        marker,
    })
}

/// The manifest of the snapshot in `from`.
pub fn read_manifest(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST);
    let bad = |reason: String| BackupError::Manifest {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a credex backup manifest: {e}")))?;
    if manifest.version != LAYOUT_VERSION {
        return Err(bad(format!(
            "layout version {}, this credex reads {LAYOUT_VERSION}",
            manifest.version
        )));
    }
    for f in std::iter::once(&manifest.database).chain(&manifest.files) {
        if f.stored.is_absolute()
            || f.stored
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(bad(format!(
                "{}: a stored file must be a plain path inside the snapshot",
                f.stored.display()
            )));
        }
    }
    Ok(manifest)
}

/// The bytes of `f` in the snapshot, once they match the manifest.
fn checked(from: &Path, f: &StoredFile) -> Result<Vec<u8>, BackupError> {
    let path = from.join(&f.stored);
    let bytes = std::fs::read(&path).map_err(|e| BackupError::file(&path, e))?;
    let actual = digest(&bytes);
    if actual != f.sha256 {
        return Err(BackupError::Altered {
            stored: path,
            expected: f.sha256.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// A node listening on its configured port is running: its database must
/// not be replaced under it.
fn refuse_if_running(config: &NodeConfig) -> Result<(), BackupError> {
    if config.listen.port() == 0 {
        return Ok(());
    }
    match std::net::UdpSocket::bind(config.listen) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(BackupError::Target(format!(
            "{} is in use: the node seems to be running; stop it before restoring",
            config.listen
        ))),
        _ => Ok(()),
    }
}

/// Put the SQLite snapshot at `db`: written beside it, synced, renamed over
/// it; the old database's WAL and shared-memory files go first.
fn put_sqlite(db: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    if let Some(dir) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| BackupError::file(dir, e))?;
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(BackupError::file(Path::new(&side), e));
            }
            _ => {}
        }
    }
    let tmp = db.with_extension("restoring");
    write_private(&tmp, bytes).map_err(|e| BackupError::file(&tmp, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::file(&tmp, e))?;
    std::fs::rename(&tmp, db).map_err(|e| BackupError::file(db, e))
}

/// Point a PostgreSQL tool at `url`, its password (if any) passed in the
/// environment rather than on the command line, where `ps` shows it.
pub(super) fn with_url(cmd: &mut std::process::Command, url: &str) {
    let (url, password) = split_password(url);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.arg("--dbname").arg(url);
}

/// `postgres://user:secret@host/db` → (`postgres://user@host/db`, `secret`).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return (url.to_owned(), None);
    };
    match userinfo.split_once(':') {
        Some((user, password)) => (
            format!("{scheme}://{user}@{host}"),
            Some(password.to_owned()),
        ),
        None => (url.to_owned(), None),
    }
}

/// Run a database tool; its error output becomes the error.
pub(super) fn run_tool(
    tool: &'static str,
    cmd: &mut std::process::Command,
) -> Result<(), BackupError> {
    let output = cmd.output().map_err(|e| BackupError::Tool {
        tool,
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            format!("not installed ({e}); install PostgreSQL's client tools")
        } else {
            e.to_string()
        },
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(BackupError::Tool {
        tool,
        reason: format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_leaves_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgres://credex:s3cret@127.0.0.1:5432/credex"),
            (
                "postgres://credex@127.0.0.1:5432/credex".into(),
                Some("s3cret".into())
            )
        );
        assert_eq!(
            split_password("postgres://credex@/credex?host=/run/postgresql"),
            (
                "postgres://credex@/credex?host=/run/postgresql".into(),
                None
            )
        );
    }
}
