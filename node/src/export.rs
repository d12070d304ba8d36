//! `credex log export`: the node's log as a C2SP tlog-tiles directory that
//! tools knowing those formats can check without credex, plus what a credex
//! auditor needs beside it.
//!
//! ```text
//! DIR/checkpoint            latest signed checkpoint, with its cosignatures
//! DIR/tile/…                hash tiles and entry bundles (C2SP tlog-tiles)
//! DIR/log.vkey              the log's verifier key (NAME+HEX+BASE64)
//! DIR/node.pem              the node certificate chain that binds the key
//! DIR/node-signing.pem      under `sm2-sm3`: the node's SM2 message-signing
//!                            chain, whose key signs each checkpoint's SM2 line
//! DIR/checkpoints/SIZE      every checkpoint the node signed, with its cosignatures
//! DIR/attachments/HEX       dual-authorization bundles, signed federation
//!                            messages and acknowledgements, by SHA-256
//! DIR/policies/HEX          policy archives, by policy hash
//! DIR/evidence/N            forks this node saw as a witness (both notes)
//! DIR/witnessed/ORIGIN      the latest checkpoint of each peer log it witnessed
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use credex_protocol::tlog::{
    Hash, MemoryHashStore, Sm3CompactTree, export_entry_bundles, export_tiles, leaf_hash,
    sm3_leaf_hash,
};

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
    /// The signing chain given is not the one of the log's SM2 key.
    #[error("node-signing.pem: {0}")]
    SigningChain(String),
}

/// The node's certificate chains (PEM, leaf first) that an export carries.
#[derive(Debug, Clone, Copy)]
pub struct NodeChains<'a> {
    /// The TLS chain, whose Ed25519 key is the log key (`node.pem`).
    pub tls: &'a str,
    /// Under `sm2-sm3`, the message-signing chain, whose SM2 key signs each
    /// checkpoint's second line (`node-signing.pem`); the log key must
    /// hold that SM2 key ([`LogKey::with_sm2`]).
    pub signing: Option<&'a str>,
}

impl<'a> NodeChains<'a> {
    /// Only the TLS chain: the auditor checks the Ed25519 line.
    pub fn tls_only(tls: &'a str) -> Self {
        NodeChains { tls, signing: None }
    }

    /// Check that the signing chain's leaf holds the log's SM2 key.
    fn check(&self, key: &LogKey) -> Result<(), ExportError> {
        let Some(pem) = self.signing else {
            return Ok(());
        };
        let sm2 = key.sm2_verifier().ok_or_else(|| {
            ExportError::SigningChain(
                "the log signs no SM2 line, so a signing chain would verify none of its checkpoints"
                    .into(),
            )
        })?;
        let certs = credex_pki::certs_from_pem(pem)
            .map_err(|e| ExportError::SigningChain(e.to_string()))?;
        let leaf = certs
            .first()
            .ok_or_else(|| ExportError::SigningChain("no certificate".into()))?;
        let held = credex_pki::signing::VerifyingKey::from_certificate_der(leaf)
            .map_err(|e| ExportError::SigningChain(e.to_string()))?;
        if held.public_key() != sm2.public_key() {
            return Err(ExportError::SigningChain(
                "its certificate does not hold the key that signs the checkpoints' SM2 line".into(),
            ));
        }
        Ok(())
    }
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
/// certificate chain. [`export_chains`] with the TLS chain only.
pub async fn export(
    storage: &Storage,
    key: &LogKey,
    node_chain_pem: &str,
    out: &Path,
) -> Result<ExportSummary, ExportError> {
    export_chains(storage, key, NodeChains::tls_only(node_chain_pem), out).await
}

/// [`export`], carrying the node's `chains`: with a signing chain (the
/// `sm2-sm3` suite), the auditor checks every checkpoint's SM2 line too.
pub async fn export_chains(
    storage: &Storage,
    key: &LogKey,
    chains: NodeChains<'_>,
    out: &Path,
) -> Result<ExportSummary, ExportError> {
    export_with(storage, key, chains, out, true, None).await
}

/// Export the log as of `head`, a checkpoint this node signed and stored:
/// its first `head.size` entries, ending on that checkpoint with the
/// cosignatures the node holds for it — after a witnessing round
/// ([`crate::log::witness_round`]), a log its witnesses vouch for in full.
/// [`export_at_chains`] with the TLS chain only.
pub async fn export_at(
    storage: &Storage,
    key: &LogKey,
    node_chain_pem: &str,
    out: &Path,
    head: &crate::log::SignedHead,
) -> Result<ExportSummary, ExportError> {
    let chains = NodeChains::tls_only(node_chain_pem);
    export_at_chains(storage, key, chains, out, head).await
}

/// [`export_at`], carrying the node's `chains` (see [`export_chains`]).
pub async fn export_at_chains(
    storage: &Storage,
    key: &LogKey,
    chains: NodeChains<'_>,
    out: &Path,
    head: &crate::log::SignedHead,
) -> Result<ExportSummary, ExportError> {
    export_with(storage, key, chains, out, true, Some(head)).await
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
        let chains = NodeChains::tls_only(node_chain_pem);
        export_unchecked_chains(storage, key, chains, out).await
    }

    /// [`export_unchecked`], carrying the node's `chains`.
    pub async fn export_unchecked_chains(
        storage: &Storage,
        key: &LogKey,
        chains: NodeChains<'_>,
        out: &Path,
    ) -> Result<ExportSummary, ExportError> {
        export_with(storage, key, chains, out, false, None).await
    }
}

async fn export_with(
    storage: &Storage,
    key: &LogKey,
    chains: NodeChains<'_>,
    out: &Path,
    check_stored_tree: bool,
    at: Option<&crate::log::SignedHead>,
) -> Result<ExportSummary, ExportError> {
    chains.check(key)?;
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
    // Under `sm2-sm3` the checkpoint also states the SM3 tree's root over
    // the same entries (decision 1100).
    let sm3_root = key.states_sm3_root().then(|| {
        let mut tree = Sm3CompactTree::new();
        for entry in &read.entries {
            tree.push(sm3_leaf_hash(entry));
        }
        tree.root()
    });
    if let Some(head) = at {
        let signed = credex_protocol::tlog::Note::parse(head.note.as_bytes())
            .ok()
            .and_then(|n| credex_protocol::tlog::Checkpoint::parse(n.text()).ok());
        if signed.is_none_or(|cp| {
            cp.size() != size || *cp.root() != root || cp.sm3_root().ok().flatten() != sm3_root
        }) {
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
                let note = key.sign(size, root, sm3_root.as_ref())?;
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
    write(&out.join("node.pem"), chains.tls.as_bytes())?;
    if let Some(pem) = chains.signing {
        write(&out.join("node-signing.pem"), pem.as_bytes())?;
    }
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
    /// Digests of the attachments (query bundles, envelopes, acks), each
    /// with the entries that name it, in log order (one of them keeps it:
    /// decision 1220).
    digests: BTreeMap<[u8; 32], Vec<u64>>,
    /// Hashes of the policies loaded (their archives are attachments).
    policies: BTreeSet<[u8; 32]>,
}

async fn read_journal(storage: &Storage, upto: Option<u64>) -> Result<JournalRead, ExportError> {
    let head = storage.tree_head().size;
    let size = upto.map_or(head, |u| u.min(head));
    let mut read = JournalRead {
        entries: Vec::with_capacity(size as usize),
        tree: MemoryHashStore::new(),
        digests: BTreeMap::new(),
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
            read.note_attachment(r.seq, r.kind, &r.body);
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
    /// Remember the attachment entry `seq` of `kind` names, if any.
    fn note_attachment(&mut self, seq: u64, kind: u16, body: &[u8]) {
        match named_attachment(kind, body) {
            Some(Attachment::Content(d)) => {
                self.digests.entry(d).or_default().push(seq);
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
    for (digest, seqs) in &read.digests {
        if let Some(bytes) = kept_by_any(storage, seqs, digest).await? {
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

/// Attachment `digest`, kept by the first of `seqs` (the entries that name
/// it) that keeps it, or stored by digest alone.
async fn kept_by_any(
    storage: &Storage,
    seqs: &[u64],
    digest: &[u8; 32],
) -> Result<Option<Vec<u8>>, ExportError> {
    for seq in seqs {
        if let Some(bytes) = storage.entry_attachment(*seq, digest).await? {
            return Ok(Some(bytes));
        }
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use credex_pki::TrustStore;
    use credex_protocol::tlog::{Note, NoteSignature};

    use super::*;
    use crate::log::tests::{log_key, sm2_node};

    /// Rewrite `dir/checkpoint` with its lines by `keep` only, and the SM2
    /// line's signature changed when `doctor`.
    fn rewrite_checkpoint(dir: &Path, key: &LogKey, doctor: bool, keep_sm2: bool) {
        let path = dir.join("checkpoint");
        let note = Note::parse(&std::fs::read(&path).unwrap()).unwrap();
        let sm2_id = key.sm2_verifier().unwrap().id();
        let mut out = Note::new(note.text()).unwrap();
        for sig in note.signatures() {
            if sig.id() != sm2_id {
                out.add_signature(sig.clone()).unwrap();
            } else if keep_sm2 {
                let mut bytes = sig.signature().to_vec();
                bytes[40] ^= u8::from(doctor);
                let line = NoteSignature::new(sig.name().clone(), sig.id(), bytes);
                out.add_signature(line).unwrap();
            }
        }
        std::fs::write(&path, out.to_bytes()).unwrap();
    }

    #[tokio::test]
    async fn the_auditor_checks_both_lines_once_the_signing_chain_is_exported() {
        let n = sm2_node();
        let key = log_key(&n);
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&tmp.path().join("log.sqlite"))
            .await
            .unwrap();
        for i in 0..3u8 {
            storage
                .append(credex_journal::kind::AUDIT_FETCH, vec![i])
                .await
                .unwrap();
        }
        let chains = NodeChains {
            tls: &n.tls_chain,
            signing: Some(&n.signing_chain),
        };
        let out = tmp.path().join("export");
        export_chains(&storage, &key, chains, &out).await.unwrap();
        assert!(out.join("node-signing.pem").exists());

        let trust = TrustStore::from_pem(&n.root_pem, &[]).unwrap();
        let options = credex_audit::AuditOptions {
            pinned: vec![(
                "earlier audit".into(),
                std::fs::read(out.join("checkpoint")).unwrap(),
            )],
            ..Default::default()
        };
        let audit =
            || credex_audit::verify_with(std::slice::from_ref(&out), &trust, &options, &|_| {});
        let rules = |r: &credex_audit::AuditReport| -> Vec<&str> {
            r.violations.iter().map(|v| v.rule).collect()
        };
        let honest = audit();
        assert!(honest.passed(), "{:?}", honest.violations);
        assert_eq!(honest.logs[0].size, 3);

        // A doctored SM2 line, then none: refused while the signing chain is there.
        for keep_sm2 in [true, false] {
            rewrite_checkpoint(&out, &key, true, keep_sm2);
            let refused = audit();
            assert!(!refused.passed());
            assert_eq!(
                refused.violations[0].rule, "checkpoint_sm2_signature",
                "{keep_sm2}: {:?}",
                refused.violations
            );
            std::fs::write(out.join("checkpoint"), &options.pinned[0].1).unwrap();
        }
        // Without the signing chain the SM2 line cannot be checked: in an
        // sm2-sm3 federation that alone is the finding (the Ed25519 line
        // still verifies; a bad SM2 line is an unknown signature to it, as
        // C2SP has it).
        rewrite_checkpoint(&out, &key, true, true);
        std::fs::remove_file(out.join("node-signing.pem")).unwrap();
        assert_eq!(rules(&audit()), ["signing_certificate"]);

        // A signing chain without an SM2 key is refused.
        std::fs::write(out.join("node-signing.pem"), &n.tls_chain).unwrap();
        std::fs::write(out.join("checkpoint"), &options.pinned[0].1).unwrap();
        assert_eq!(rules(&audit()), ["signing_certificate"]);
    }

    /// A checkpoint of `size` entries with `root`, signed on both lines by
    /// node `n`'s keys, stating `sm3_root` (or no SM3 line): what a node
    /// that lies in its SM3 line, or leaves it out, would publish.
    fn signed_by_node(
        n: &crate::log::tests::Sm2Node,
        size: u64,
        root: Hash,
        sm3_root: Option<&Hash>,
    ) -> Vec<u8> {
        use credex_protocol::tlog::{Checkpoint, KeyName};
        use rustls_pki_types::pem::PemObject;
        let origin = "credex/520000/gy-1";
        let checkpoint = match sm3_root {
            Some(sm3) => Checkpoint::with_sm3_root(origin, size, root, sm3).unwrap(),
            None => Checkpoint::new(origin, size, root).unwrap(),
        };
        let der = |pem: &str| {
            rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .secret_pkcs8_der()
                .to_vec()
        };
        let ed = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der(&n.tls.key_pem))
            .unwrap();
        let sm2 = credex_gm::Sm2SigningKey::from_pkcs8_der(
            credex_gm::DEFAULT_ID,
            &der(&n.signing.key_pem),
        )
        .unwrap();
        let name = KeyName::new(origin).unwrap();
        let mut note = checkpoint.sign(&name, &ed).unwrap();
        note.sign_sm2(&name, &sm2).unwrap();
        note.to_bytes()
    }

    #[tokio::test]
    async fn the_auditor_recomputes_the_sm3_tree_of_an_sm2_sm3_log() {
        let n = sm2_node();
        let key = log_key(&n);
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&tmp.path().join("log.sqlite"))
            .await
            .unwrap();
        for i in 0..5u8 {
            storage
                .append(credex_journal::kind::AUDIT_FETCH, vec![i; usize::from(i)])
                .await
                .unwrap();
        }
        let chains = NodeChains {
            tls: &n.tls_chain,
            signing: Some(&n.signing_chain),
        };
        let out = tmp.path().join("export");
        export_chains(&storage, &key, chains, &out).await.unwrap();
        let honest = std::fs::read(out.join("checkpoint")).unwrap();
        let note = Note::parse(&honest).unwrap();
        let cp = credex_protocol::tlog::Checkpoint::parse(note.text()).unwrap();
        let sm3_root = cp
            .sm3_root()
            .unwrap()
            .expect("an sm2-sm3 export states the SM3 root");
        assert_ne!(sm3_root, *cp.root());

        let trust = TrustStore::from_pem(&n.root_pem, &[]).unwrap();
        // Pinned, as an earlier audit would have: what vouches for the log
        // is not what this test is about.
        let options = credex_audit::AuditOptions {
            pinned: vec![("earlier audit".into(), honest.clone())],
            ..Default::default()
        };
        let audit =
            || credex_audit::verify_with(std::slice::from_ref(&out), &trust, &options, &|_| {});
        let rules = |r: &credex_audit::AuditReport| -> Vec<&'static str> {
            r.violations.iter().map(|v| v.rule).collect()
        };
        let report = audit();
        assert!(report.passed(), "{:?}", report.violations);

        // Our own signing of the honest checkpoint is byte for byte the export's.
        assert_eq!(signed_by_node(&n, 5, *cp.root(), Some(&sm3_root)), honest);
        // A validly signed checkpoint whose SM3 line is not the entries'.
        let doctored = signed_by_node(&n, 5, *cp.root(), Some(&Hash([1; 32])));
        std::fs::write(out.join("checkpoint"), &doctored).unwrap();
        let report = audit();
        assert_eq!(
            rules(&report),
            ["sm3_root_mismatch"],
            "{:?}",
            report.violations
        );
        // One with no SM3 line at all.
        std::fs::write(
            out.join("checkpoint"),
            signed_by_node(&n, 5, *cp.root(), None),
        )
        .unwrap();
        assert_eq!(rules(&audit()), ["sm3_root_missing"]);
        // A stored checkpoint of a prefix, doctored, is caught as well.
        std::fs::write(out.join("checkpoint"), &honest).unwrap();
        let prefix = storage.tree_root(3).await.unwrap();
        std::fs::write(
            out.join("checkpoints").join("3"),
            signed_by_node(&n, 3, prefix, Some(&sm3_root)),
        )
        .unwrap();
        let report = audit();
        assert_eq!(
            rules(&report),
            ["sm3_root_mismatch"],
            "{:?}",
            report.violations
        );
        assert!(
            report.violations[0].detail.starts_with("checkpoints/3"),
            "{:?}",
            report.violations
        );
        storage.close().await;
    }

    #[tokio::test]
    async fn an_export_refuses_a_signing_chain_the_log_does_not_sign_with() {
        let n = sm2_node();
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&tmp.path().join("log.sqlite"))
            .await
            .unwrap();
        storage.append(1, vec![0]).await.unwrap();
        let plain = LogKey::from_pkcs8_pem(
            &n.tls.key_pem,
            "520000".parse().unwrap(),
            &"gy-1".parse().unwrap(),
        )
        .unwrap();
        let signing = NodeChains {
            tls: &n.tls_chain,
            signing: Some(&n.signing_chain),
        };
        let out = tmp.path().join("a");
        let err = export_chains(&storage, &plain, signing, &out)
            .await
            .unwrap_err();
        assert!(matches!(err, ExportError::SigningChain(_)), "{err}");
        let wrong = NodeChains {
            tls: &n.tls_chain,
            signing: Some(&n.tls_chain),
        };
        let err = export_chains(&storage, &log_key(&n), wrong, &out)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not hold the key"), "{err}");
        assert!(!out.exists(), "nothing written");
    }
}
