//! `credex log export`: the node's log as a C2SP tlog-tiles directory that
//! tools knowing those formats can check without credex, plus what a credex
//! auditor needs beside it.
//!
//! ```text
//! DIR/checkpoint            latest signed checkpoint, with its cosignatures
//! DIR/tile/…                hash tiles and entry bundles (C2SP tlog-tiles)
//! DIR/log.vkey              the log's verifier key (NAME+HEX+BASE64)
//! DIR/node.pem              the node certificate chain that binds the key
//! DIR/checkpoints/SIZE      every checkpoint the node signed, with its cosignatures
//! DIR/attachments/HEX       dual-authorization bundles, signed federation
//!                            messages and acknowledgements, by SHA-256
//! DIR/policies/HEX          policy archives, by policy hash
//! DIR/evidence/N            forks this node saw as a witness (both notes)
//! DIR/witnessed/ORIGIN      the latest checkpoint of each peer log it witnessed
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use credex_protocol::tlog::{Hash, MemoryHashStore, export_entry_bundles, export_tiles, leaf_hash};

use crate::log::LogKey;
use crate::storage::{Storage, StorageError};
use credex_journal::{AccessEntry, PolicyLoaded};

/// Errors of export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log could not be turned into tiles.
    #[error("tiles: {0}")]
    Tiles(String),
    /// The output directory is not empty.
    #[error("{0}: not empty; export into a new directory")]
    NotEmpty(PathBuf),
    /// Signing the final checkpoint failed.
    #[error("{0}")]
    Log(#[from] crate::log::LogError),
}

/// What was exported.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// Entries in the exported tree.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Checkpoints written.
    pub checkpoints: usize,
    /// Attachments written.
    pub attachments: usize,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    // An export holds the log's entries and attachments: owner only.
    crate::file_modes::write_private(path, bytes).map_err(io)
}

/// Export the whole log of `storage` into `out`, first signing (with `key`)
/// and storing a checkpoint of the full tree. `node_chain_pem` is the node's
/// certificate chain.
pub async fn export(
    storage: &Storage,
    key: &LogKey,
    node_chain_pem: &str,
    out: &Path,
) -> Result<ExportSummary, ExportError> {
    export_with(storage, key, node_chain_pem, out, true, None).await
}

/// Export the log as of `head`, a checkpoint this node signed and stored:
/// its first `head.size` entries, ending on that checkpoint with the
/// cosignatures the node holds for it — after a witnessing round
/// ([`crate::log::witness_round`]), a log its witnesses vouch for in full.
pub async fn export_at(
    storage: &Storage,
    key: &LogKey,
    node_chain_pem: &str,
    out: &Path,
    head: &crate::log::SignedHead,
) -> Result<ExportSummary, ExportError> {
    export_with(storage, key, node_chain_pem, out, true, Some(head)).await
}

/// Exports that skip safety checks, to play a malicious operator in tests
/// (only with the cargo feature `danger`).
#[cfg(feature = "danger")]
pub mod danger {
    use super::*;

    /// Export the log as the stored entries say, without checking them
    /// against the stored tree: what an operator who edited the database
    /// would publish. The auditor must still catch the edit.
    pub async fn export_unchecked(
        storage: &Storage,
        key: &LogKey,
        node_chain_pem: &str,
        out: &Path,
    ) -> Result<ExportSummary, ExportError> {
        export_with(storage, key, node_chain_pem, out, false, None).await
    }
}

async fn export_with(
    storage: &Storage,
    key: &LogKey,
    node_chain_pem: &str,
    out: &Path,
    check_stored_tree: bool,
    at: Option<&crate::log::SignedHead>,
) -> Result<ExportSummary, ExportError> {
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Err(ExportError::NotEmpty(out.to_owned()));
    }
    let read = read_journal(storage, at.map(|h| h.size)).await?;
    let size = read.entries.len() as u64;
    let root = read
        .tree
        .root()
        .map_err(|e| ExportError::Tiles(e.to_string()))?;
    if size > 0 && check_stored_tree {
        let stored = storage.tree_root(size).await?;
        if stored != root {
            return Err(ExportError::Tiles(format!(
                "the stored tree root {stored:?} differs from the root of the stored entries {root:?}: the database was altered"
            )));
        }
    }
    if let Some(head) = at {
        let signed = credex_protocol::tlog::Note::parse(head.note.as_bytes())
            .ok()
            .and_then(|n| credex_protocol::tlog::Checkpoint::parse(n.text()).ok());
        if signed.is_none_or(|cp| cp.size() != size || *cp.root() != root) {
            return Err(ExportError::Tiles(format!(
                "the checkpoint to export at does not describe the first {size} stored entries (root {})",
                root.to_hex()
            )));
        }
    }
    let tiles = export_tiles(size, &read.tree).map_err(|e| ExportError::Tiles(e.to_string()))?;
    for (tile, bytes) in tiles {
        write(&out.join(tile.path()), &bytes)?;
    }
    let bundles =
        export_entry_bundles(&read.entries).map_err(|e| ExportError::Tiles(e.to_string()))?;
    for (bundle, bytes) in bundles {
        write(&out.join(bundle.path()), &bytes)?;
    }
    // The final checkpoint — the one asked for, or signed now — with the
    // cosignatures the node holds.
    if size > 0 {
        let note = match at {
            Some(head) => {
                if check_stored_tree {
                    storage.store_checkpoint(size, head.note.clone()).await?;
                }
                head.note.clone()
            }
            None => {
                let note = key.sign(size, root)?;
                if check_stored_tree {
                    storage.store_checkpoint(size, note.clone()).await?;
                }
                note
            }
        };
        let full = with_cosignatures(storage, size, note).await?;
        write(&out.join("checkpoint"), full.as_bytes())?;
    }
    let checkpoints = write_checkpoints(storage, out, size).await?;
    write(
        &out.join("log.vkey"),
        format!("{}\n", key.verifier()).as_bytes(),
    )?;
    write(&out.join("node.pem"), node_chain_pem.as_bytes())?;
    let attachments = write_attachments(storage, out, &read).await?;
    write_witnessing(storage, out).await?;
    Ok(ExportSummary {
        size,
        root,
        checkpoints,
        attachments,
    })
}

/// The journal as exported: its entries, the tree rebuilt from them in
/// memory (the tiles are computed from the entries, so what is exported is
/// self-consistent; the stored tree is checked against it), and the
/// attachments its entries name.
struct JournalRead {
    entries: Vec<Vec<u8>>,
    tree: MemoryHashStore,
    /// Digests of the attachments (query bundles, envelopes, acks).
    digests: BTreeSet<[u8; 32]>,
    /// Hashes of the policies loaded (their archives are attachments).
    policies: BTreeSet<[u8; 32]>,
}

async fn read_journal(storage: &Storage, upto: Option<u64>) -> Result<JournalRead, ExportError> {
    let head = storage.tree_head().size;
    let size = upto.map_or(head, |u| u.min(head));
    let mut read = JournalRead {
        entries: Vec::with_capacity(size as usize),
        tree: MemoryHashStore::new(),
        digests: BTreeSet::new(),
        policies: BTreeSet::new(),
    };
    let mut from = 0;
    while from < size {
        let page = storage
            .journal_range(
                from,
                4096.min(u32::try_from(size - from).unwrap_or(u32::MAX)),
            )
            .await?;
        if page.is_empty() {
            break;
        }
        for r in page.into_iter().filter(|r| r.seq < size) {
            let bytes = credex_journal::entry_bytes(r.kind, r.recorded_at_unix_ms, &r.body);
            read.tree
                .append_leaf_hash(leaf_hash(&bytes))
                .map_err(|e| ExportError::Tiles(e.to_string()))?;
            read.note_attachment(r.kind, &r.body);
            read.entries.push(bytes);
            from = r.seq + 1;
        }
    }
    Ok(read)
}

/// What an entry keeps beside the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// A bundle or message stored under the SHA-256 of its bytes
    /// (`attachments/HEX` in an export).
    Content([u8; 32]),
    /// A policy archive stored under its policy hash (`policies/HEX`).
    Policy([u8; 32]),
}

/// The attachment an entry of `kind` with `body` names, if any.
pub fn named_attachment(kind: u16, body: &[u8]) -> Option<Attachment> {
    use credex_journal::{MessageReceived, MessageSent, kind as k};
    match kind {
        k::QUERY_RECEIVED | k::QUERY_SENT => credex_protocol::decode::<AccessEntry>(body)
            .ok()
            .map(|e| Attachment::Content(e.query_digest)),
        k::MESSAGE_RECEIVED => credex_protocol::decode::<MessageReceived>(body)
            .ok()
            .map(|e| Attachment::Content(e.message_digest)),
        k::MESSAGE_SENT => credex_protocol::decode::<MessageSent>(body)
            .ok()
            .map(|e| Attachment::Content(e.ack_digest)),
        k::POLICY_LOADED => credex_protocol::decode::<PolicyLoaded>(body)
            .ok()
            .map(|p| Attachment::Policy(p.policy_hash)),
        _ => None,
    }
}

impl JournalRead {
    /// Remember the attachment an entry of `kind` names, if any.
    fn note_attachment(&mut self, kind: u16, body: &[u8]) {
        match named_attachment(kind, body) {
            Some(Attachment::Content(d)) => {
                self.digests.insert(d);
            }
            Some(Attachment::Policy(h)) => {
                self.policies.insert(h);
            }
            None => {}
        }
    }
}

/// Every checkpoint, with the witnesses' cosignatures: what vouches for
/// the log beyond its own key (the auditor's anchor). Returns how many.
async fn write_checkpoints(storage: &Storage, out: &Path, upto: u64) -> Result<usize, ExportError> {
    let mut checkpoints = 0;
    let mut after = 0;
    loop {
        let page = storage.checkpoints_after(after, 1024).await?;
        if page.is_empty() {
            return Ok(checkpoints);
        }
        for (cp_size, note) in page {
            if cp_size > upto {
                return Ok(checkpoints);
            }
            let note = with_cosignatures(storage, cp_size, note).await?;
            write(&out.join(format!("checkpoints/{cp_size}")), note.as_bytes())?;
            checkpoints += 1;
            after = cp_size;
        }
    }
}

/// The attachments and policy archives the entries name. Returns how many
/// attachments were written.
async fn write_attachments(
    storage: &Storage,
    out: &Path,
    read: &JournalRead,
) -> Result<usize, ExportError> {
    let mut attachments = 0;
    for digest in &read.digests {
        if let Some(bytes) = storage.attachment(digest).await? {
            write(
                &out.join(format!("attachments/{}", hex::encode(digest))),
                &bytes,
            )?;
            attachments += 1;
        }
    }
    for hash in &read.policies {
        if let Some(bytes) = storage.attachment(hash).await? {
            write(&out.join(format!("policies/{}", hex::encode(hash))), &bytes)?;
        }
    }
    Ok(attachments)
}

/// What this node saw as a witness: the latest checkpoint of every peer
/// log it witnessed (an auditor holding several exports compares them with
/// each log) and the evidence of forks (both signed checkpoints).
async fn write_witnessing(storage: &Storage, out: &Path) -> Result<(), ExportError> {
    for (origin, _, note) in storage.witnessed_all().await? {
        let name = origin.replace('/', "_");
        write(&out.join(format!("witnessed/{name}")), note.as_bytes())?;
    }
    for ev in storage.evidence().await? {
        let text = format!(
            "origin {}\nkind {}\ndetail {}\n\n{}\n{}",
            ev.origin, ev.kind, ev.detail, ev.first, ev.second
        );
        write(&out.join(format!("evidence/{}", ev.id)), text.as_bytes())?;
    }
    Ok(())
}

/// `note` (the log's checkpoint of `size` entries) followed by every
/// cosignature line the node holds for that size.
pub(crate) async fn with_cosignatures(
    storage: &Storage,
    size: u64,
    mut note: String,
) -> Result<String, ExportError> {
    for (_, line) in storage.cosignatures(size).await? {
        note.push_str(&line);
        if !line.ends_with('\n') {
            note.push('\n');
        }
    }
    Ok(note)
}
