//! `credex backup` and `credex restore` (issue 18 §4, decision 1000): a
//! consistent online snapshot of a node — its database, keys,
//! configuration, policies and agreements — and bringing a node back from
//! one, such that a log restored from an old snapshot can never sign a
//! second history.
//!
//! ```text
//! DIR/manifest.json     what is here: the node, the engine, the log's head
//!                       at the snapshot, every file's original path and SHA-256
//! DIR/database.sqlite   SQLite: `VACUUM INTO` (one read transaction)
//! DIR/database.pgdump   PostgreSQL: `pg_dump --format=custom` (one snapshot)
//! DIR/files/N-NAME      the configuration, certificates, keys, CRLs,
//!                       policies, agreements
//! ```
//!
//! The pseudonym key ring, the vault key and the key-encryption key are
//! left out and named in the manifest: with the database they would open
//! natural persons' IDs and the sealed records, so they are backed up
//! apart from it (decisions 0630, 1110).
//!
//! The snapshot holds private keys and records: the directory is 0700 and
//! every file 0600; keep it as carefully as the node itself.
//!
//! What a restore cannot know is how far the log got after the snapshot:
//! it leaves the marker [`crate::log::head::RESTORED_MARKER`], and the next
//! start asks the node's witnesses for the largest checkpoint they cosigned
//! and refuses to sign while the log is behind it
//! ([`crate::log::head`]). The head file the checkpointer keeps in the data
//! directory is not part of a snapshot and survives a restore.
//!
//! Owns: the snapshot layout and its manifest. Does not own the log's
//! rule ([`crate::log::head`]) or the database engines.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod files;
mod restore;
mod take;

pub use restore::{Restored, restore};
pub use take::take;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// The version of the layout this code writes and reads.
pub const LAYOUT_VERSION: u32 = 1;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`LAYOUT_VERSION`].
    pub version: u32,
    /// The node's log origin (`credex/REGION/NAME`).
    pub origin: String,
    /// When the snapshot was taken (Unix ms).
    pub taken_at_ms: i64,
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The database file in the snapshot and its SHA-256 (hex).
    pub database: StoredFile,
    /// The log as the snapshot holds it (SQLite), or as it was when the
    /// dump began (PostgreSQL: the dump holds at least this much).
    pub log_size: u64,
    /// The configuration file's original path.
    pub config: PathBuf,
    /// Every other file, with its original path.
    pub files: Vec<StoredFile>,
    /// Files the node needs that the snapshot leaves out: the pseudonym
    /// keys and the key-encryption key, backed up apart from the database
    /// (decisions 0630, 1110).
    #[serde(default)]
    pub kept_apart: Vec<PathBuf>,
}

/// One file in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// What it is for the node (e.g. `tls.key`, `agreement`).
    pub role: String,
    /// Its path when the snapshot was taken (absolute).
    pub original: PathBuf,
    /// Its path inside the snapshot directory.
    pub stored: PathBuf,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// Why a backup or a restore failed; each names the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The snapshot directory is not usable.
    #[error("{0}")]
    Target(String),
    /// The manifest is missing, unreadable, or of another layout.
    #[error("{path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file in the snapshot is not what the manifest says.
    #[error(
        "{stored}: its SHA-256 is {actual}, the manifest says {expected}: the snapshot was altered or damaged; nothing was restored"
    )]
    Altered {
        /// The file in the snapshot.
        stored: PathBuf,
        /// The manifest's digest.
        expected: String,
        /// The digest of what is there.
        actual: String,
    },
    /// Restoring would overwrite files that differ from the snapshot's.
    #[error(
        "restoring would overwrite {} file(s) that differ from the snapshot's: {}; stop the node and pass --force to replace them",
        paths.len(), paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    WouldOverwrite {
        /// The files.
        paths: Vec<PathBuf>,
    },
    /// A database tool (`pg_dump`, `pg_restore`) failed or is missing.
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool.
        tool: &'static str,
        /// Its error output, or why it could not run.
        reason: String,
    },
    /// The configuration could not be loaded.
    #[error("configuration: {0}")]
    Config(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
}

impl BackupError {
    fn file(path: &Path, e: impl std::fmt::Display) -> BackupError {
        BackupError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    }
}

/// SHA-256 of `bytes`, hex.
fn digest(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
