//! Reading one export into a [`LoadedLog`]: the node certificate that binds
//! the log key (and, under `sm2-sm3`, the signing certificate whose SM2 line
//! every checkpoint must also carry: `crate::signing_chain`), the signed
//! checkpoint and its witnesses' cosignatures, every
//! tile and entry against that checkpoint, every stored and pinned
//! checkpoint against the log's own prefix (a rewrite or fork is caught),
//! each checkpoint's SM3 root against the entries (`crate::sm3_tree`),
//! and the fork evidence the node holds as a witness. The entries read are
//! then checked one by one (`crate::entries`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use credex_journal::{AccessEntry, CreditChecked};
use credex_pki::log_key::{node_checkpoint_verifier, node_witness_verifier};
use credex_pki::{Purpose, Subject};
use credex_protocol::tlog::{
    Hash, SignedCheckpoint, TileError, VerifierKey, open_checkpoint, verify_entry_bundles,
    verify_tiles,
};
use credex_protocol::{NodeName, RegionCode};
use rustls_pki_types::CertificateDer;

use crate::anchor::Vouches;
use crate::messages::MessageEntry;
use crate::sm3_tree::Sm3Claim;
use crate::tiles::{DirTiles, read_bounded};
use crate::verify::{Auditor, LogSummary};

/// One log as read from its export, before cross-matching.
pub(crate) struct LoadedLog {
    pub(crate) origin: String,
    pub(crate) region: RegionCode,
    pub(crate) node: NodeName,
    pub(crate) dir: PathBuf,
    pub(crate) size: u64,
    pub(crate) key: VerifierKey,
    /// (leaf index, entry) of every access entry.
    pub(crate) accesses: Vec<(u64, AccessEntry)>,
    /// (leaf index, entry) of every federation message entry.
    pub(crate) messages: Vec<(u64, MessageEntry)>,
    /// Digests of the queries this node logged as about to be sent.
    pub(crate) intents: BTreeSet<[u8; 32]>,
    /// (leaf index, entry) of every credit check the gateway answered.
    pub(crate) credit_checks: Vec<(u64, CreditChecked)>,
    /// Who vouched for which prefix of the log.
    pub(crate) vouches: Vouches,
}

/// The identity an export's node certificate proves: region, node, log
/// key, and the key it cosigns other logs' checkpoints with.
pub(crate) type Identity = (RegionCode, NodeName, VerifierKey, Option<VerifierKey>);

/// An export's log as its signed checkpoint states it.
struct SignedLog<'a> {
    dir: &'a Path,
    origin: &'a str,
    key: &'a VerifierKey,
    /// The SM2 line's key, when the export carries a signing chain.
    sm2: Option<&'a VerifierKey>,
    /// Other logs' cosigning keys, whose cosignatures vouch for it.
    cosigners: &'a [VerifierKey],
    /// Entries in the tree.
    size: u64,
}

impl Auditor<'_> {
    /// Read and verify the export in `dir`, whose checkpoints `witnesses`
    /// (every exported node's cosigning key) may have cosigned. `None`:
    /// the log cannot be read past its identity or its tree.
    pub(crate) fn load(&mut self, dir: &Path, witnesses: &[VerifierKey]) -> Option<LoadedLog> {
        let (region, node, key, _) = self.identity(dir)?;
        let sm2 = self.signing_key(dir, region, &node);
        let origin = key.name().to_string();
        let mut summary = LogSummary {
            dir: dir.display().to_string(),
            origin: origin.clone(),
            ..LogSummary::default()
        };
        let cosigners = self.cosigners(&key, witnesses);
        let log = SignedLog {
            dir,
            origin: &origin,
            key: &key,
            sm2: sm2.as_ref(),
            cosigners: &cosigners,
            size: 0,
        };
        let signed = self.final_checkpoint(&log)?;
        let mut sm3_claims = vec![Sm3Claim::of("checkpoint", signed.checkpoint())];
        let (size, root) = (signed.checkpoint().size(), *signed.checkpoint().root());
        summary.size = size;
        summary.root = root.to_hex();
        summary.cosignatures = signed.cosignatures().len();
        let mut vouches = Vouches::default();
        vouches.cosigned(&signed);
        let entries = self.entries_in_tree(dir, &origin, size, &root)?;
        let log = SignedLog { size, ..log };
        summary.checkpoints = self.check_stored_checkpoints(&log, &mut vouches, &mut sm3_claims);
        self.check_sm3_roots(&origin, &entries, sm3_claims);
        self.check_pinned(&log, &mut vouches);
        self.report_fork_evidence(dir, &origin);
        let checked = self.check_entries(dir, &origin, region, &entries, &mut summary);
        self.report.logs.push(summary);
        Some(LoadedLog {
            origin,
            region,
            node,
            dir: dir.to_owned(),
            size,
            key,
            accesses: checked.accesses,
            messages: checked.messages,
            intents: checked.intents,
            credit_checks: checked.credit_checks,
            vouches,
        })
    }

    /// Identity and log key of an export.
    pub(crate) fn identity(&mut self, dir: &Path) -> Option<Identity> {
        let name = dir.display().to_string();
        let pem = match std::fs::read_to_string(dir.join("node.pem")) {
            Ok(p) => p,
            Err(e) => {
                self.violation(&name, None, "node_certificate", format!("node.pem: {e}"));
                return None;
            }
        };
        let certs = match credex_pki::certs_from_pem(&pem) {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => {
                self.violation(
                    &name,
                    None,
                    "node_certificate",
                    "node.pem holds no certificate",
                );
                return None;
            }
            Err(e) => {
                self.violation(&name, None, "node_certificate", format!("node.pem: {e}"));
                return None;
            }
        };
        let (leaf, rest) = certs.split_first()?;
        let rest: Vec<CertificateDer<'_>> = rest.to_vec();
        let verified = match self.trust.verify(leaf, &rest, self.now, Purpose::TlsServer) {
            Ok(v) => v,
            Err(e) => {
                self.violation(
                    &name,
                    None,
                    "node_certificate",
                    format!("the node certificate binding the log key does not verify: {e}"),
                );
                return None;
            }
        };
        let Subject::Node { region, name: node } = verified.identity().subject.clone() else {
            return None;
        };
        let key = match node_checkpoint_verifier(leaf, region, &node) {
            Ok(k) => k,
            Err(e) => {
                self.violation(&name, None, "log_key", e.to_string());
                return None;
            }
        };
        self.check_published_key(dir, &name, &key);
        let witness = node_witness_verifier(leaf, region, &node).ok();
        Some((region, node, key, witness))
    }

    /// The export's `log.vkey`, when present, must be the certificate's key.
    fn check_published_key(&mut self, dir: &Path, name: &str, key: &VerifierKey) {
        if let Ok(text) = std::fs::read_to_string(dir.join("log.vkey"))
            && text.trim() != key.to_string()
        {
            self.violation(
                name,
                None,
                "log_key",
                format!(
                    "log.vkey {} is not the key of the node certificate {}",
                    text.trim(),
                    key
                ),
            );
        }
    }

    /// The cosigning keys other than the log's own: every exported node's
    /// and the witnesses' the auditor was given.
    fn cosigners(&self, key: &VerifierKey, witnesses: &[VerifierKey]) -> Vec<VerifierKey> {
        witnesses
            .iter()
            .chain(&self.options.witnesses)
            .filter(|w| w.name() != key.name())
            .cloned()
            .collect()
    }

    /// The export's latest checkpoint, opened with its cosignatures.
    fn final_checkpoint(&mut self, log: &SignedLog<'_>) -> Option<SignedCheckpoint> {
        let bytes = match read_bounded(&log.dir.join("checkpoint")) {
            Ok(b) => b,
            Err(e) => {
                self.violation(log.origin, None, "checkpoint", format!("checkpoint: {e}"));
                return None;
            }
        };
        self.open_cosigned(log, "checkpoint", &bytes)
    }

    /// Open a checkpoint of `log`, with its witnesses' cosignatures. A
    /// cosignature that does not verify over it means the witness cosigned
    /// another root at that size — the log was rewritten since: a `fork`,
    /// and the checkpoint is still read on the log's own signature. A bad
    /// log signature is `checkpoint_signature`; with a signing chain, a
    /// missing or bad SM2 line is `checkpoint_sm2_signature`.
    fn open_cosigned(
        &mut self,
        log: &SignedLog<'_>,
        label: &str,
        bytes: &[u8],
    ) -> Option<SignedCheckpoint> {
        let (origin, key, others) = (log.origin, log.key, log.cosigners);
        let opened = self.open_on_ed25519(origin, label, bytes, key, others)?;
        self.check_sm2_line(origin, label, bytes, log.sm2)
            .then_some(opened)
    }

    /// [`Self::open_cosigned`] on the log's Ed25519 line.
    fn open_on_ed25519(
        &mut self,
        origin: &str,
        label: &str,
        bytes: &[u8],
        key: &VerifierKey,
        others: &[VerifierKey],
    ) -> Option<SignedCheckpoint> {
        match open_checkpoint(bytes, key, others) {
            Ok(cp) => Some(cp),
            Err(with_witnesses) => match open_checkpoint(bytes, key, &[]) {
                Ok(cp) => {
                    self.violation(
                        origin,
                        None,
                        "fork",
                        format!(
                            "{label}: {with_witnesses}: a witness cosigned another root at size {}, so the log was rewritten after it was witnessed",
                            cp.checkpoint().size()
                        ),
                    );
                    Some(cp)
                }
                Err(e) => {
                    self.violation(
                        origin,
                        None,
                        "checkpoint_signature",
                        format!("{label}: {e}"),
                    );
                    None
                }
            },
        }
    }

    /// Every hash tile against the checkpoint's root, then every entry
    /// against the tiles: (leaf index, entry bytes) of the entries that
    /// match. `None`: the tiles do not hash to the root.
    fn entries_in_tree(
        &mut self,
        dir: &Path,
        origin: &str,
        size: u64,
        root: &Hash,
    ) -> Option<Vec<(u64, Vec<u8>)>> {
        let tiles = DirTiles(dir);
        if let Err(e) = verify_tiles(size, root, &tiles) {
            self.violation(origin, None, "tiles", e.to_string());
            return None;
        }
        let mut entries: Vec<(u64, Vec<u8>)> = Vec::new();
        if let Err(e) = verify_entry_bundles(size, &tiles, |i, e| entries.push((i, e.to_vec()))) {
            let index = match &e {
                TileError::EntryMismatch { index } => Some(*index),
                _ => None,
            };
            self.violation(origin, index, "entry_not_in_tree", e.to_string());
        }
        self.report.entries += entries.len() as u64;
        Some(entries)
    }

    /// Every checkpoint the node signed must be a prefix of this log; those
    /// that are vouch for it with their cosignatures, and what they state
    /// of the SM3 tree joins `sm3`. Returns how many stored checkpoints
    /// there are.
    fn check_stored_checkpoints(
        &mut self,
        log: &SignedLog<'_>,
        vouches: &mut Vouches,
        sm3: &mut Vec<Sm3Claim>,
    ) -> usize {
        let Ok(list) = std::fs::read_dir(log.dir.join("checkpoints")) else {
            return 0;
        };
        let mut files: Vec<PathBuf> = list.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in &files {
            self.check_stored_checkpoint(log, path, vouches, sm3);
        }
        files.len()
    }

    /// One stored checkpoint, `checkpoints/<label>`.
    fn check_stored_checkpoint(
        &mut self,
        log: &SignedLog<'_>,
        path: &Path,
        vouches: &mut Vouches,
        sm3: &mut Vec<Sm3Claim>,
    ) {
        let (origin, size) = (log.origin, log.size);
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = match read_bounded(path) {
            Ok(b) => b,
            Err(e) => {
                self.violation(
                    origin,
                    None,
                    "checkpoint",
                    format!("checkpoints/{label}: {e}"),
                );
                return;
            }
        };
        let label_path = format!("checkpoints/{label}");
        let Some(cp) = self.open_cosigned(log, &label_path, &bytes) else {
            return;
        };
        let c = cp.checkpoint();
        if c.size() > size {
            self.violation(
                origin,
                None,
                "checkpoint_beyond_log",
                format!(
                    "checkpoints/{label} covers {} entries, the log has {size}",
                    c.size()
                ),
            );
            return;
        }
        match DirTiles(log.dir).prefix_root(size, c.size()) {
            Ok(h) if h == *c.root() => {
                vouches.cosigned(&cp);
                sm3.push(Sm3Claim::of(&label_path, c));
            }
            Ok(h) => self.violation(origin, None, "fork", format!("checkpoint of size {} has root {}, but this log's first {} entries hash to {}: the log was rewritten or forked", c.size(), c.root().to_hex(), c.size(), h.to_hex())),
            Err(e) => self.violation(origin, None, "checkpoint", format!("checkpoints/{label}: {e}")),
        }
    }

    /// Checkpoints the auditor pinned from earlier audits: each this log
    /// signed must be a prefix of it, and vouches for it.
    fn check_pinned(&mut self, log: &SignedLog<'_>, vouches: &mut Vouches) {
        let size = log.size;
        for (source, bytes) in &self.options.pinned {
            let Ok(cp) = open_checkpoint(bytes, log.key, &[]) else {
                continue;
            };
            let c = cp.checkpoint();
            match (c.size() <= size).then(|| DirTiles(log.dir).prefix_root(size, c.size())) {
                Some(Ok(h)) if h == *c.root() => vouches.pinned(source, c.size()),
                _ => self.violation(
                    log.origin,
                    None,
                    "pinned_checkpoint_mismatch",
                    format!(
                        "the pinned checkpoint {source} (size {}, root {}) is not a prefix of this log of {size} entries: \
                         the log was rewritten since it was pinned",
                        c.size(),
                        c.root().to_hex()
                    ),
                ),
            }
        }
    }

    /// Forks this node caught as a witness are reported, raised loudly.
    fn report_fork_evidence(&mut self, dir: &Path, origin: &str) {
        let Ok(list) = std::fs::read_dir(dir.join("evidence")) else {
            return;
        };
        for item in list.flatten() {
            let text = std::fs::read_to_string(item.path()).unwrap_or_default();
            let first = text.lines().take(3).collect::<Vec<_>>().join("; ");
            self.violation(
                origin,
                None,
                "fork_evidence",
                format!("this node witnessed a fork: {first}"),
            );
        }
    }
}
