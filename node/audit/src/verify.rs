//! Offline verification of one or more exported logs, trusting only the
//! federation root (and the CRLs given): what an audit reports
//! ([`AuditReport`], [`Violation`], [`LogSummary`]) and its entry points
//! ([`verify`], [`verify_with`]), which run the steps in order, and
//! [`verify_accesses`], which also hands back the accesses read.
//!
//! For each log (`load` reads an export): the node certificate that binds
//! the log key; every hash tile against the checkpoint's root; every entry
//! against the tiles (so a changed, deleted or reordered entry is caught);
//! every stored checkpoint's signature and that its root is the root of the
//! log's own prefix of that size (a rewritten history or a fork is caught);
//! cosignatures by other logs' keys. Then its entries (`entries`): every
//! access entry's dual-authorization bundle as of the access time; that
//! released fields were permitted by the archived policy the entry names;
//! the federation messages. Across logs (`across`) it cross-matches each
//! access between requester and responder, each message between sender and
//! receiver, and each witnessed checkpoint with the log it claims to be of.

use std::path::PathBuf;

use credex_pki::TrustStore;
use rustls_pki_types::UnixTime;
use serde::Serialize;

use crate::across::{anchor_logs, check_witnessed, cross_match};
use crate::anchor::AuditOptions;
use crate::anomalies::Access;
use crate::load::LoadedLog;
use crate::tiles::read_bounded;

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
    /// `records_disclosed` entries (the disclosures ledger's) checked.
    pub disclosures: usize,
    /// Rows of the disclosures ledger they fold to: (record, recipient,
    /// channel) triples.
    pub ledger_rows: usize,
    /// Corrections sent (one per changed record and recipient).
    pub corrections: usize,
    /// What vouches for the log beyond its own key: the log is verified up
    /// to this size (`None`: nothing does, a `log_not_anchored` violation).
    pub anchor: Option<crate::anchor::Anchor>,
    /// Entries after the anchor, vouched for by the node's key alone.
    pub unanchored_entries: u64,
    /// The independent witnesses that saw the log's latest size: their
    /// cosignatures on its final checkpoint, or their own exports'
    /// witnessed checkpoints of at least that size.
    pub witnesses_at_latest: Vec<String>,
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

/// One audit run: what it trusts, what it found so far.
pub(crate) struct Auditor<'a> {
    pub(crate) trust: &'a TrustStore,
    pub(crate) options: &'a AuditOptions,
    pub(crate) now: UnixTime,
    pub(crate) report: AuditReport,
    pub(crate) progress: &'a dyn Fn(u64),
}

impl Auditor<'_> {
    /// Report that `rule` is broken in `log` (at entry `index`).
    pub(crate) fn violation(
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
}

/// Runs `f` over `items` on every core (scoped threads, contiguous chunks)
/// and returns the results in item order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
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
    verify_logs(dirs, trust, options, progress).0
}

/// [`verify_with`], and the accesses the logs hold as the anomaly rules
/// ([`crate::anomalies`]) read them: one per access entry and one per
/// subject of each credit check, of every log that could be read, in log
/// order. A log with violations still gives its accesses: an anomaly in
/// a log that did not verify is only as good as the log
/// ([`AuditReport::passed`]).
pub fn verify_accesses(
    dirs: &[PathBuf],
    trust: &TrustStore,
    options: &AuditOptions,
    progress: &dyn Fn(u64),
) -> (Vec<Access>, AuditReport) {
    let (report, logs) = verify_logs(dirs, trust, options, progress);
    let mut accesses = Vec::new();
    for log in &logs {
        accesses.extend(
            log.accesses
                .iter()
                .map(|(index, e)| Access::from_entry(&log.origin, *index, e)),
        );
        for (index, check) in &log.credit_checks {
            accesses.extend(Access::from_credit_check(
                &log.origin,
                log.region,
                *index,
                check,
            ));
        }
    }
    (accesses, report)
}

/// The checks of [`verify_with`], and the logs as read.
fn verify_logs(
    dirs: &[PathBuf],
    trust: &TrustStore,
    options: &AuditOptions,
    progress: &dyn Fn(u64),
) -> (AuditReport, Vec<LoadedLog>) {
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
    (auditor.report, logs)
}
