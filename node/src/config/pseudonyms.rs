//! `[pseudonyms]`: where the keys that name natural persons are
//! (docs/decisions/0630-pseudonym-key.md).
//!
//! Owns: [`PseudonymConfig`] and its default vault path. Does not read,
//! create or check the key files (`crate::pseudonyms`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::values::Values;

/// Where the keys that name natural persons are (`[pseudonyms]`,
/// docs/decisions/0630-pseudonym-key.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymConfig {
    /// The federation's pseudonymization key ring (`keys`, mode 0600).
    /// Without it the node cannot import natural persons' records, and
    /// refuses to start if it holds any.
    pub keys: Option<PathBuf>,
    /// The node-local vault key (`vault_key`, mode 0600; created at the
    /// first import). Default: `subject-vault.key` in the data directory.
    /// Every process of one node (PostgreSQL) must use the same file.
    pub vault_key: PathBuf,
}

/// The raw `[pseudonyms]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPseudonyms {
    keys: Option<PathBuf>,
    vault_key: Option<PathBuf>,
}

/// `[pseudonyms]` with its paths resolved; the vault key defaults into
/// `data_dir`.
pub(super) fn parse(raw: &RawPseudonyms, data_dir: &Path, values: &Values<'_>) -> PseudonymConfig {
    PseudonymConfig {
        keys: raw.keys.as_deref().map(|p| values.resolve(p)),
        vault_key: raw
            .vault_key
            .as_deref()
            .map_or_else(|| data_dir.join("subject-vault.key"), |p| values.resolve(p)),
    }
}
