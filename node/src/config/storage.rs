//! `[storage]`: where the node stores its state — an embedded SQLite file
//! (by default in the data directory) or a PostgreSQL database, optionally
//! in its own schema.
//!
//! `key_encryption_key` names the file of the node's key-encryption key
//! (encryption at rest, decision 1110); absent, values are stored in clear.
//!
//! Owns: [`StorageTarget`]. Does not open or migrate anything (that is
//! `crate::storage`), nor read the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

/// Where the node stores its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, optionally in its own schema.
    Postgres {
        /// `postgres://` URL.
        url: String,
        /// Schema to use (created if absent).
        schema: Option<String>,
    },
}

/// The raw `[storage]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    url: Option<String>,
    schema: Option<String>,
    key_encryption_key: Option<PathBuf>,
}

/// `storage.key_encryption_key`, relative to the configuration file.
pub(super) fn key_encryption_key(raw: &RawStorage, values: &Values<'_>) -> Option<PathBuf> {
    raw.key_encryption_key.as_deref().map(|p| values.resolve(p))
}

/// `storage.url` (`sqlite:PATH` or `postgres://…`; absent: `credex.db` in
/// `data_dir`), with a schema only for PostgreSQL.
pub(super) fn parse(
    raw: &RawStorage,
    data_dir: &Path,
    values: &Values<'_>,
) -> Result<StorageTarget, ConfigError> {
    let schema_needs_postgres = || {
        values.invalid(
            "storage.schema",
            "a schema needs a postgres:// storage.url".into(),
        )
    };
    match raw.url.as_deref() {
        None => {
            if raw.schema.is_some() {
                return Err(schema_needs_postgres());
            }
            Ok(StorageTarget::Sqlite(data_dir.join("credex.db")))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StorageTarget::Postgres {
                url: url.to_owned(),
                schema: raw.schema.clone(),
            })
        }
        Some(url) if url.starts_with("sqlite:") => {
            if raw.schema.is_some() {
                return Err(schema_needs_postgres());
            }
            let p = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            Ok(StorageTarget::Sqlite(values.resolve(Path::new(p))))
        }
        Some(_) => Err(values.invalid(
            "storage.url",
            "expected \"sqlite:PATH\" or a \"postgres://\" URL".into(),
        )),
    }
}
