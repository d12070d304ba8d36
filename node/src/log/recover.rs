//! `credex log recover`: a node restored from an old backup puts back the
//! entries its log published after the backup, from an export of its own
//! log that holds them — an auditor's copy, or an earlier `credex log
//! export` — so that it can sign again without forking (decision 1000).
//!
//! The export must be signed by this node's log key, its tiles must make
//! its checkpoint's tree, and its first entries must be exactly the ones
//! the node still holds. Only the log comes back: the flow state those
//! entries wrote is the backup's ([`Recovered`] says which kinds of entry
//! came back, so the operator knows what happened since).

use std::collections::BTreeMap;
use std::path::Path;

use credex_protocol::tlog::{Hash, leaf_hash, root_from_leaf_hashes};

use super::LogKey;
use crate::storage::{Storage, StorageError};

/// What came back.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// Entries the log held before.
    pub from: u64,
    /// Entries it holds now.
    pub to: u64,
    /// The root at `to`, which the export's checkpoint names.
    pub root: Hash,
    /// How many entries of each kind came back (journal kind names).
    pub kinds: BTreeMap<String, usize>,
}

/// Why nothing was recovered.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The export cannot be read or does not verify.
    #[error(transparent)]
    Export(#[from] credex_audit::tiles::ExportReadError),
    /// After the recovery the log's root is not the export's. Not reached
    /// when the export verified and its first entries were the log's: the
    /// same leaves make the same tree.
    #[error(
        "after recovery the log's root is {log_root}, the export's checkpoint names {export_root}"
    )]
    RootAfterRecovery {
        /// The log's root at the export's size.
        log_root: String,
        /// The root the export's checkpoint names.
        export_root: String,
    },
    /// The export holds nothing the log lacks.
    #[error(
        "the export ends at size {export}, and the log already holds {local} entries: nothing to recover from it"
    )]
    NothingNew {
        /// The export's size.
        export: u64,
        /// The log's.
        local: u64,
    },
    /// The export's first entries are not the log's.
    #[error(
        "the export's first {local} entries have root {export_root}, the log's have {local_root}: it is not \
         this database's history (restored from another backup?); nothing was recovered"
    )]
    NotAPrefix {
        /// Entries compared.
        local: u64,
        /// Their root in the export.
        export_root: String,
        /// Their root in the log.
        local_root: String,
    },
    /// An exported entry is not a journal entry.
    #[error("export entry {index}: {reason}")]
    Entry {
        /// Its index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// An attachment a recovered entry names cannot be read from the
    /// export, or is not what the entry names.
    #[error("{path}: {reason}")]
    Attachment {
        /// The file in the export.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Recover the entries `storage`'s log lacks from the export in `dir`.
pub async fn recover_from_export(
    storage: &Storage,
    key: &LogKey,
    dir: &Path,
) -> Result<Recovered, RecoverError> {
    let export = credex_audit::tiles::read_export(dir, key.verifier())?;
    let local = storage.tree_head().size;
    if export.size <= local {
        return Err(RecoverError::NothingNew {
            export: export.size,
            local,
        });
    }
    let prefix: Vec<Hash> = export.entries[..local as usize]
        .iter()
        .map(|e| leaf_hash(e))
        .collect();
    let export_root = root_from_leaf_hashes(&prefix);
    let local_root = storage.tree_root(local).await?;
    if local > 0 && export_root != local_root {
        return Err(RecoverError::NotAPrefix {
            local,
            export_root: export_root.to_hex(),
            local_root: local_root.to_hex(),
        });
    }
    let mut kinds = BTreeMap::new();
    let mut missing = Vec::new();
    for (i, bytes) in export.entries.iter().enumerate().skip(local as usize) {
        let (kind, at_ms, body) =
            credex_journal::split(bytes).map_err(|e| RecoverError::Entry {
                index: i as u64,
                reason: e.to_string(),
            })?;
        let name = credex_journal::kind::name(kind).unwrap_or("unknown");
        *kinds.entry(name.to_owned()).or_default() += 1;
        missing.push((kind, at_ms, body.to_vec()));
    }
    let attachments = attachments_of(dir, &missing)?;
    let to = storage.recover_entries(local, missing, attachments).await?;
    let root = storage.tree_root(to).await?;
    if root != export.root {
        return Err(RecoverError::RootAfterRecovery {
            log_root: root.to_hex(),
            export_root: export.root.to_hex(),
        });
    }
    Ok(Recovered {
        from: local,
        to,
        root,
        kinds,
    })
}

/// An attachment's name (digest or policy hash) and bytes.
type NamedAttachment = ([u8; 32], Vec<u8>);

/// The attachments the recovered `entries` name, read from the export: a
/// bundle or message must hash to its name; a policy archive is named by
/// the policy hash the (checkpointed) entry logged, which the auditor
/// checks against the archive.
fn attachments_of(
    dir: &Path,
    entries: &[(u16, i64, Vec<u8>)],
) -> Result<Vec<NamedAttachment>, RecoverError> {
    use crate::export::{Attachment, named_attachment};
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (kind, _, body) in entries {
        let (folder, name, hashed) = match named_attachment(*kind, body) {
            Some(Attachment::Content(d)) => ("attachments", d, true),
            Some(Attachment::Policy(h)) => ("policies", h, false),
            None => continue,
        };
        if !seen.insert(name) {
            continue;
        }
        let path = dir.join(folder).join(hex::encode(name));
        let bytes = match credex_audit::tiles::read_bounded(&path) {
            Ok(bytes) => bytes,
            // An export holds what the node held: no archive of a policy too
            // large to keep, no bundle the node never stored. The auditor
            // judges those; recovery puts back what there is.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(RecoverError::Attachment {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        if hashed && credex_journal::sha256(&bytes) != name {
            return Err(RecoverError::Attachment {
                path,
                reason: "its SHA-256 is not its name".into(),
            });
        }
        out.push((name, bytes));
    }
    Ok(out)
}
