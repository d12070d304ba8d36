//! Offline verification of one or more exported
//! logs, trusting only the federation root (and the CRLs given).
//!
//! For each log it checks: the node certificate that binds the log key;
//! every hash tile against the checkpoint's root; every entry against the
//! tiles (so a changed, deleted or reordered entry is caught); every stored
//! checkpoint's signature and that its root is the root of the log's own
//! prefix of that size (a rewritten history or a fork is caught);
//! cosignatures by other logs' keys; every access entry's dual-authorization
//! bundle as of the access time; that released fields were permitted by the
//! archived policy the entry names. Across logs it cross-matches each
//! access between requester and responder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use credex_pki::{Purpose, Subject, TrustStore};
use credex_protocol::query::Outcome;
use credex_protocol::tlog::{
    SignatureType, TileHashReader, VerifierKey, open_checkpoint, tree_hash, verify_entry_bundles,
    verify_tiles,
};
use credex_protocol::{NodeName, RegionCode};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use crate::anchor::{AuditOptions, Vouches};
use crate::received::check_received;
use crate::replay::{Received, check_sequence};
use crate::tiles::{DirTiles, read_bounded};
use credex_journal::split as split_entry;
use credex_journal::{AccessEntry, Direction};
use credex_pki::log_key::node_log_verifier;

/// One rule broken, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The log (its origin, or its directory if unreadable).
    pub log: String,
    /// The entry index, when the violation is about one entry.
    pub index: Option<u64>,
    /// A stable rule name.
    pub rule: &'static str,
    /// What was found.
    pub detail: String,
    /// For a violation about one access: the query digest (hex) that
    /// names it in both logs, so a tool can match it with what it saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

/// What was verified of one log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogSummary {
    /// The export directory.
    pub dir: String,
    /// The log origin.
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// Root, hex.
    pub root: String,
    /// Stored checkpoints checked.
    pub checkpoints: usize,
    /// Cosignatures on the final checkpoint that verified.
    pub cosignatures: usize,
    /// Access entries received (answered) and sent (asked).
    pub received: usize,
    /// Access entries sent.
    pub sent: usize,
    /// Federation message entries (received and sent) checked.
    pub messages: usize,
    /// Of those, messages whose egress decision the auditor re-ran.
    pub egress_rerun: usize,
    /// Messages whose egress decision was made under a rule document the
    /// auditor does not hold (body checked, decision not re-run).
    pub egress_not_rerun: usize,
    /// Fields the senders' gates withheld, summed over the messages.
    pub egress_withheld: usize,
    /// What vouches for the log beyond its own key: the log is verified up
    /// to this size (`None`: nothing does, a `log_not_anchored` violation).
    pub anchor: Option<crate::anchor::Anchor>,
    /// Entries after the anchor, vouched for by the node's key alone.
    pub unanchored_entries: u64,
}

/// The auditor's findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Per log.
    pub logs: Vec<LogSummary>,
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// Entries verified in all.
    pub entries: u64,
    /// Releases a responder logged whose answer never reached the
    /// requester: the requester logged the query as sent (its intent) and
    /// no answer. Not a violation: the exchange was cut on the way back.
    /// Query digests, hex.
    pub answers_lost: Vec<String>,
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// One log as read from its export, before cross-matching.
pub(crate) struct LoadedLog {
    pub(crate) origin: String,
    region: RegionCode,
    node: NodeName,
    dir: PathBuf,
    size: u64,
    key: VerifierKey,
    /// (leaf index, entry) of every access entry.
    pub(crate) accesses: Vec<(u64, AccessEntry)>,
    /// (leaf index, entry) of every federation message entry.
    messages: Vec<(u64, crate::messages::MessageEntry)>,
    /// Digests of the queries this node logged as about to be sent.
    intents: std::collections::BTreeSet<[u8; 32]>,
    /// Who vouched for which prefix of the log.
    vouches: Vouches,
}

/// One audit run: what it trusts, what it found so far.
pub(crate) struct Auditor<'a> {
    pub(crate) trust: &'a TrustStore,
    pub(crate) options: &'a AuditOptions,
    pub(crate) now: UnixTime,
    pub(crate) report: AuditReport,
    pub(crate) progress: &'a dyn Fn(u64),
}

impl Auditor<'_> {
    fn violation(
        &mut self,
        log: &str,
        index: Option<u64>,
        rule: &'static str,
        detail: impl Into<String>,
    ) {
        self.report.violations.push(Violation {
            log: log.to_owned(),
            index,
            rule,
            detail: detail.into(),
            access: None,
        });
    }

    /// Identity and log key of an export.
    fn identity(
        &mut self,
        dir: &Path,
    ) -> Option<(RegionCode, NodeName, VerifierKey, Option<VerifierKey>)> {
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
        let key = match node_log_verifier(leaf, region, &node, SignatureType::Ed25519) {
            Ok(k) => k,
            Err(e) => {
                self.violation(&name, None, "log_key", e.to_string());
                return None;
            }
        };
        if let Ok(text) = std::fs::read_to_string(dir.join("log.vkey"))
            && text.trim() != key.to_string()
        {
            self.violation(
                &name,
                None,
                "log_key",
                format!(
                    "log.vkey {} is not the key of the node certificate {}",
                    text.trim(),
                    key
                ),
            );
        }
        let witness = node_log_verifier(leaf, region, &node, SignatureType::CosignatureV1).ok();
        Some((region, node, key, witness))
    }

    /// Open a checkpoint of the log `key` signs, with its witnesses'
    /// cosignatures. A cosignature that does not verify over it means the
    /// witness cosigned another root at that size — the log was rewritten
    /// since: a `fork`, and the checkpoint is still read on the log's own
    /// signature. A bad log signature is `checkpoint_signature`.
    fn open_cosigned(
        &mut self,
        origin: &str,
        label: &str,
        bytes: &[u8],
        key: &VerifierKey,
        others: &[VerifierKey],
    ) -> Option<credex_protocol::tlog::SignedCheckpoint> {
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

    pub(crate) fn load(&mut self, dir: &Path, witnesses: &[VerifierKey]) -> Option<LoadedLog> {
        let mut vouches = Vouches::default();
        let (region, node, key, _) = self.identity(dir)?;
        let origin = key.name().to_string();
        let mut summary = LogSummary {
            dir: dir.display().to_string(),
            origin: origin.clone(),
            ..LogSummary::default()
        };
        let checkpoint_bytes = match read_bounded(&dir.join("checkpoint")) {
            Ok(b) => b,
            Err(e) => {
                self.violation(&origin, None, "checkpoint", format!("checkpoint: {e}"));
                return None;
            }
        };
        let others: Vec<VerifierKey> = witnesses
            .iter()
            .chain(&self.options.witnesses)
            .filter(|w| w.name() != key.name())
            .cloned()
            .collect();
        let signed = self.open_cosigned(&origin, "checkpoint", &checkpoint_bytes, &key, &others)?;
        let (size, root) = (signed.checkpoint().size(), *signed.checkpoint().root());
        summary.size = size;
        summary.root = root.to_hex();
        summary.cosignatures = signed.cosignatures().len();
        vouches.cosigned(&signed);
        let tiles = DirTiles(dir);
        if let Err(e) = verify_tiles(size, &root, &tiles) {
            self.violation(&origin, None, "tiles", e.to_string());
            return None;
        }
        let mut entries: Vec<(u64, Vec<u8>)> = Vec::new();
        if let Err(e) = verify_entry_bundles(size, &tiles, |i, e| entries.push((i, e.to_vec()))) {
            let index = match &e {
                credex_protocol::tlog::TileError::EntryMismatch { index } => Some(*index),
                _ => None,
            };
            self.violation(&origin, index, "entry_not_in_tree", e.to_string());
        }
        self.report.entries += entries.len() as u64;

        // Every checkpoint the node signed must be a prefix of this log.
        let reader = TileHashReader::new(size, &tiles);
        if let Ok(list) = std::fs::read_dir(dir.join("checkpoints")) {
            let mut files: Vec<PathBuf> = list.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for path in files {
                summary.checkpoints += 1;
                let label = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let bytes = match read_bounded(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        self.violation(
                            &origin,
                            None,
                            "checkpoint",
                            format!("checkpoints/{label}: {e}"),
                        );
                        continue;
                    }
                };
                match self.open_cosigned(
                    &origin,
                    &format!("checkpoints/{label}"),
                    &bytes,
                    &key,
                    &others,
                ) {
                    None => {}
                    Some(cp) => {
                        let c = cp.checkpoint();
                        if c.size() > size {
                            self.violation(
                                &origin,
                                None,
                                "checkpoint_beyond_log",
                                format!(
                                    "checkpoints/{label} covers {} entries, the log has {size}",
                                    c.size()
                                ),
                            );
                        } else {
                            match tree_hash(c.size(), &reader) {
                                Ok(h) if h == *c.root() => {
                                    vouches.cosigned(&cp);
                                }
                                Ok(h) => self.violation(&origin, None, "fork", format!("checkpoint of size {} has root {}, but this log's first {} entries hash to {}: the log was rewritten or forked", c.size(), c.root().to_hex(), c.size(), h.to_hex())),
                                Err(e) => self.violation(&origin, None, "checkpoint", format!("checkpoints/{label}: {e}")),
                            }
                        }
                    }
                }
            }
        }

        // Checkpoints the auditor pinned from earlier audits.
        for (source, bytes) in &self.options.pinned {
            let Ok(cp) = open_checkpoint(bytes, &key, &[]) else {
                continue;
            };
            let c = cp.checkpoint();
            match (c.size() <= size).then(|| tree_hash(c.size(), &reader)) {
                Some(Ok(h)) if h == *c.root() => vouches.pinned(source, c.size()),
                _ => self.violation(
                    &origin,
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

        // Forks this node caught as a witness are reported, raised loudly.
        if let Ok(list) = std::fs::read_dir(dir.join("evidence")) {
            for item in list.flatten() {
                let text = std::fs::read_to_string(item.path()).unwrap_or_default();
                let first = text.lines().take(3).collect::<Vec<_>>().join("; ");
                self.violation(
                    &origin,
                    None,
                    "fork_evidence",
                    format!("this node witnessed a fork: {first}"),
                );
            }
        }

        // The policies this node loaded, rebuilt from their archives.
        let mut policies: HashMap<[u8; 32], credex_policies::PolicySet> = HashMap::new();
        for (index, bytes) in &entries {
            let Ok((kind, _, body)) = split_entry(bytes) else {
                continue;
            };
            if kind != credex_journal::kind::POLICY_LOADED {
                continue;
            }
            let Ok(loaded) = credex_protocol::decode::<credex_journal::PolicyLoaded>(body) else {
                self.violation(
                    &origin,
                    Some(*index),
                    "entry_format",
                    "unreadable policy load entry",
                );
                continue;
            };
            let Some(archive) = &loaded.archive else {
                continue;
            };
            match credex_flows::query::rebuild_policy(region, archive) {
                Ok(p) if p.policy_hash() == loaded.policy_hash => {
                    policies.insert(loaded.policy_hash, p);
                }
                Ok(p) => self.violation(
                    &origin,
                    Some(*index),
                    "policy_archive_mismatch",
                    format!(
                        "the archived policy hashes to {}, the entry says {}",
                        p.policy_hash_hex(),
                        hex::encode(loaded.policy_hash)
                    ),
                ),
                Err(e) => self.violation(
                    &origin,
                    Some(*index),
                    "policy_archive_mismatch",
                    format!("the archived policy does not load: {e}"),
                ),
            }
        }

        let mut accesses = Vec::new();
        let mut header_times: HashMap<u64, i64> = HashMap::new();
        let mut message_entries = Vec::new();
        let mut intents = std::collections::BTreeSet::new();
        for (index, bytes) in &entries {
            if index % 1024 == 0 {
                (self.progress)(1024.min(entries.len() as u64 - index));
            }
            let Ok((kind, header_ms, body)) = split_entry(bytes) else {
                self.violation(
                    &origin,
                    Some(*index),
                    "entry_format",
                    "entry shorter than its header",
                );
                continue;
            };
            header_times.insert(*index, header_ms);
            if kind == credex_journal::kind::MESSAGE_RECEIVED
                || kind == credex_journal::kind::MESSAGE_SENT
            {
                message_entries.push((*index, kind, body));
                continue;
            }
            if kind == credex_journal::kind::QUERY_INTENT {
                match credex_protocol::decode::<credex_journal::QueryIntent>(body) {
                    Ok(intent) => {
                        intents.insert(intent.query_digest);
                    }
                    Err(err) => {
                        self.violation(&origin, Some(*index), "entry_format", err.to_string());
                    }
                }
                continue;
            }
            if kind != credex_journal::kind::QUERY_RECEIVED
                && kind != credex_journal::kind::QUERY_SENT
            {
                continue;
            }
            match credex_protocol::decode::<AccessEntry>(body) {
                Ok(e) => {
                    match e.direction {
                        Direction::Received => summary.received += 1,
                        Direction::Sent => summary.sent += 1,
                    }
                    accesses.push((*index, e));
                }
                Err(err) => self.violation(&origin, Some(*index), "entry_format", err.to_string()),
            }
        }
        // The signature checks of received accesses and of messages are
        // independent of each other: spread them over the cores.
        let received: Vec<&(u64, AccessEntry)> = accesses
            .iter()
            .filter(|(_, e)| e.direction == Direction::Received)
            .collect();
        let trust = self.trust;
        let checked = parallel_map(&received, |(index, e)| {
            check_received(trust, dir, &origin, region, *index, e, &policies)
        });
        let sequence: Vec<Received<'_>> = received
            .iter()
            .zip(&checked)
            .map(|((index, e), (_, facts))| Received {
                index: *index,
                header_ms: header_times.get(index).copied().unwrap_or(e.at_ms),
                at_ms: e.at_ms,
                digest: &e.query_digest,
                release: facts.as_ref(),
            })
            .collect();
        let in_sequence = check_sequence(&origin, &sequence);
        for (found, _) in checked {
            self.report.violations.extend(found);
        }
        self.report.violations.extend(in_sequence);
        for (index, e) in &accesses {
            if e.direction == Direction::Sent && !intents.contains(&e.query_digest) {
                self.violation(
                    &origin,
                    Some(*index),
                    "answer_without_intent",
                    format!(
                        "query {} is logged as answered but was never logged as about to be sent",
                        hex::encode(&e.query_digest[..8])
                    ),
                );
            }
        }
        let mut messages = Vec::new();
        let rules = crate::egress::EgressRules::builtin();
        let checked = parallel_map(&message_entries, |(index, kind, body)| {
            (
                *index,
                crate::messages::check_entry(dir, *kind, body, trust, region, &rules),
            )
        });
        for (index, result) in checked {
            match result {
                Ok((m, egress)) => {
                    summary.messages += 1;
                    if egress.body_not_kept {
                        // Refused for good; the sender's log re-runs its decision.
                    } else if egress.not_rerun {
                        summary.egress_not_rerun += 1;
                    } else {
                        summary.egress_rerun += 1;
                    }
                    summary.egress_withheld += egress.withheld;
                    for (rule, detail) in egress.findings {
                        self.violation(&origin, Some(index), rule, detail);
                    }
                    messages.push((index, m));
                }
                Err((rule, detail)) => self.violation(&origin, Some(index), rule, detail),
            }
        }
        self.report.logs.push(summary);
        Some(LoadedLog {
            origin,
            region,
            node,
            dir: dir.to_owned(),
            size,
            key,
            accesses,
            messages,
            intents,
            vouches,
        })
    }
}

/// Runs `f` over `items` on every core (scoped threads, contiguous chunks)
/// and returns the results in item order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(results) => results,
                // A panicking check is a bug; re-raise it on this thread.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Verify the exported logs in `dirs` against the federation `trust`.
pub fn verify(dirs: &[PathBuf], trust: &TrustStore) -> AuditReport {
    verify_with_progress(dirs, trust, &|_| {})
}

/// Entries in the exported logs' checkpoints, for sizing a progress bar.
pub fn total_entries(dirs: &[PathBuf]) -> u64 {
    dirs.iter()
        .filter_map(|d| read_bounded(&d.join("checkpoint")).ok())
        .filter_map(|b| credex_protocol::tlog::Note::parse(&b).ok())
        .filter_map(|n| credex_protocol::tlog::Checkpoint::parse(n.text()).ok())
        .map(|c| c.size())
        .sum()
}

/// [`verify`], calling `progress(n)` as each batch of `n` entries is checked.
pub fn verify_with_progress(
    dirs: &[PathBuf],
    trust: &TrustStore,
    progress: &dyn Fn(u64),
) -> AuditReport {
    verify_with(dirs, trust, &AuditOptions::default(), progress)
}

/// [`verify`] with the anchoring `options` (quorum, pinned checkpoints,
/// witness keys), calling `progress(n)` as each batch of `n` entries is
/// checked.
pub fn verify_with(
    dirs: &[PathBuf],
    trust: &TrustStore,
    options: &AuditOptions,
    progress: &dyn Fn(u64),
) -> AuditReport {
    let mut auditor = Auditor {
        trust,
        options,
        now: UnixTime::now(),
        report: AuditReport::default(),
        progress,
    };
    // Witness keys: every exported node's key, as a cosigner.
    let mut witnesses = Vec::new();
    for dir in dirs {
        let mut probe = Auditor {
            trust,
            options,
            now: auditor.now,
            report: AuditReport::default(),
            progress: &|_| {},
        };
        if let Some((_, _, _, Some(w))) = probe.identity(dir) {
            witnesses.push(w);
        }
    }
    let mut logs = Vec::new();
    for dir in dirs {
        if let Some(log) = auditor.load(dir, &witnesses) {
            logs.push(log);
        }
    }
    cross_match(&mut auditor, &logs);
    let logs_messages: Vec<_> = logs
        .iter()
        .map(|l| {
            (
                l.origin.as_str(),
                l.dir.as_path(),
                l.size,
                l.messages.as_slice(),
            )
        })
        .collect();
    for (log, index, rule, detail) in crate::messages::cross_match(&logs_messages) {
        auditor.violation(&log, Some(index), rule, detail);
    }
    check_witnessed(&mut auditor, &mut logs);
    anchor_logs(&mut auditor, &logs);
    auditor.report
}

/// Each log's anchor into its summary; a log nothing vouches for, and a
/// pinned checkpoint no exported log signed, are violations.
fn anchor_logs(auditor: &mut Auditor<'_>, logs: &[LoadedLog]) {
    for log in logs {
        let anchor = log.vouches.anchor(auditor.options.quorum);
        if anchor.is_none() && log.size > 0 {
            auditor.violation(
                &log.origin,
                None,
                "log_not_anchored",
                format!(
                    "no checkpoint of this log carries cosignatures of {} witness(es), no other export \
                     witnessed it and no pinned checkpoint covers it: its operator could have rewritten it \
                     (export the witnesses' logs too, or pass --pinned with a checkpoint from an earlier audit)",
                    auditor.options.quorum
                ),
            );
        }
        if let Some(summary) = auditor
            .report
            .logs
            .iter_mut()
            .find(|s| s.origin == log.origin)
        {
            summary.unanchored_entries =
                log.size - anchor.as_ref().map_or(0, |a| a.size.min(log.size));
            summary.anchor = anchor;
        }
    }
    for (source, bytes) in &auditor.options.pinned {
        let origin = credex_protocol::tlog::Note::parse(bytes)
            .ok()
            .and_then(|n| credex_protocol::tlog::Checkpoint::parse(n.text()).ok())
            .map(|c| c.origin().to_owned());
        let signed_by_an_exported_log = logs.iter().any(|l| {
            Some(&l.origin) == origin.as_ref() && open_checkpoint(bytes, &l.key, &[]).is_ok()
        });
        if !signed_by_an_exported_log {
            auditor.violation(
                source,
                None,
                "pinned_checkpoint_unmatched",
                format!(
                    "the pinned checkpoint {source} is not signed by any exported log ({})",
                    origin.unwrap_or_else(|| "unreadable".into())
                ),
            );
        }
    }
}

/// Every checkpoint of a log that another node witnessed must be a prefix of
/// that log: a log that showed different histories to different peers
/// (a fork) is caught here.
fn check_witnessed(auditor: &mut Auditor<'_>, logs: &mut [LoadedLog]) {
    let mut found = Vec::new();
    let mut vouched: Vec<(usize, String, u64)> = Vec::new();
    for witness in logs.iter() {
        let Ok(list) = std::fs::read_dir(witness.dir.join("witnessed")) else {
            continue;
        };
        for item in list.flatten() {
            let Ok(bytes) = read_bounded(&item.path()) else {
                continue;
            };
            let Ok(note) = credex_protocol::tlog::Note::parse(&bytes) else {
                continue;
            };
            let Ok(claimed) = credex_protocol::tlog::Checkpoint::parse(note.text()) else {
                continue;
            };
            let Some(at) = logs.iter().position(|l| l.origin == claimed.origin()) else {
                continue;
            };
            let log = &logs[at];
            // Only a checkpoint the log itself signed can convict it.
            let Ok(signed) = open_checkpoint(&bytes, &log.key, &[]) else {
                found.push((
                    witness.origin.clone(),
                    "witnessed_unsigned",
                    format!(
                        "witnessed/{} is not signed by {}",
                        item.file_name().to_string_lossy(),
                        log.origin
                    ),
                ));
                continue;
            };
            let cp = signed.checkpoint();
            if cp.size() > log.size {
                found.push((
                    log.origin.clone(),
                    "fork",
                    format!(
                        "{} witnessed a checkpoint of {} entries, but the exported log has only {}",
                        witness.origin,
                        cp.size(),
                        log.size
                    ),
                ));
                continue;
            }
            let tiles = DirTiles(&log.dir);
            let reader = TileHashReader::new(log.size, &tiles);
            match tree_hash(cp.size(), &reader) {
                Ok(h) if h == *cp.root() => vouched.push((at, witness.origin.clone(), cp.size())),
                _ => found.push((log.origin.clone(), "fork", format!("{} witnessed a checkpoint of size {} with root {}, which is not this log's history: the log showed different histories to different peers", witness.origin, cp.size(), cp.root().to_hex()))),
            }
        }
    }
    for (log, rule, detail) in found {
        auditor.violation(&log, None, rule, detail);
    }
    for (at, witness, size) in vouched {
        logs[at].vouches.witnessed(&witness, size);
    }
}

fn cross_match(auditor: &mut Auditor<'_>, logs: &[LoadedLog]) {
    // Received: origin → leaf index → entry (a replayed query is logged
    // twice under one digest, so the index is the key). Sent: origin →
    // query digests.
    let mut received: HashMap<&str, BTreeMap<u64, &AccessEntry>> = HashMap::new();
    let mut sent: HashMap<&str, std::collections::BTreeSet<[u8; 32]>> = HashMap::new();
    let mut by_node: HashMap<(RegionCode, &NodeName), &str> = HashMap::new();
    for log in logs {
        by_node.insert((log.region, &log.node), &log.origin);
        for (i, e) in &log.accesses {
            match e.direction {
                Direction::Received => {
                    received.entry(&log.origin).or_default().insert(*i, e);
                }
                Direction::Sent => {
                    sent.entry(&log.origin).or_default().insert(e.query_digest);
                }
            }
        }
    }
    let mut found = Vec::new();
    for log in logs {
        for (i, e) in &log.accesses {
            match e.direction {
                Direction::Sent => {
                    let Some(cp) = &e.counterpart else { continue };
                    let Some(responder) = logs.iter().find(|l| l.origin == cp.origin) else {
                        continue;
                    };
                    // The receipt pins the responder's history: its log's
                    // prefix of the receipt's size must hash to the receipt's root.
                    if cp.checkpoint_size <= responder.size {
                        let tiles = DirTiles(&responder.dir);
                        let reader = TileHashReader::new(responder.size, &tiles);
                        match tree_hash(cp.checkpoint_size, &reader) {
                            Ok(h) if *h.as_bytes() == cp.checkpoint_root => {}
                            _ => found.push((cp.origin.clone(), cp.leaf_index, "fork", format!("the first {} entries of this log do not hash to the root it signed in a receipt held by {}: the log was rewritten after the fact", cp.checkpoint_size, log.origin), None)),
                        }
                    } else {
                        found.push((cp.origin.clone(), cp.leaf_index, "log_truncated", format!("{} holds a receipt for a tree of {} entries, but this log has only {}", log.origin, cp.checkpoint_size, responder.size), None));
                    }
                    match received.get(cp.origin.as_str()).and_then(|m| m.get(&cp.leaf_index)) {
                        Some(r) if r.query_digest == e.query_digest && r.outcome == e.outcome && r.reason == e.reason => {}
                        Some(_) => found.push((log.origin.clone(), *i, "cross_match", format!("the responder {}'s entry {} is not this access (digest, outcome or reason differ), though its receipt named it", cp.origin, cp.leaf_index), Some(e.query_digest))),
                        None => found.push((log.origin.clone(), *i, "access_missing_at_responder", format!("access {} is in the requester's log with a receipt from {}, but the responder's log does not contain it at entry {}", hex::encode(&e.query_digest[..8]), cp.origin, cp.leaf_index), Some(e.query_digest))),
                    }
                }
                Direction::Received => {
                    if e.outcome == Outcome::Denied {
                        continue;
                    }
                    let Some(requester_origin) =
                        by_node.get(&(e.requester_region, &e.requester_node))
                    else {
                        continue;
                    };
                    let answered = sent
                        .get(requester_origin)
                        .is_some_and(|m| m.contains(&e.query_digest));
                    let intended = logs
                        .iter()
                        .find(|l| l.origin == *requester_origin)
                        .is_some_and(|l| l.intents.contains(&e.query_digest));
                    if !answered && intended {
                        // Asked and logged as asked; the answer was lost.
                        auditor
                            .report
                            .answers_lost
                            .push(hex::encode(e.query_digest));
                    } else if !answered {
                        found.push((
                            log.origin.clone(),
                            *i,
                            "access_missing_at_requester",
                            format!(
                                "access {} released data to {}, whose log has no such query (not even as sent and unanswered)",
                                hex::encode(&e.query_digest[..8]),
                                requester_origin
                            ),
                            Some(e.query_digest),
                        ));
                    }
                }
            }
        }
    }
    for (log, i, rule, detail, digest) in found {
        auditor.report.violations.push(Violation {
            log,
            index: Some(i),
            rule,
            detail,
            access: digest.map(hex::encode),
        });
    }
}
