//! The subject access report (谁查询了我的信息): every access to a subject
//! recorded in the exported logs, from the responders' entries.

use std::path::PathBuf;

use credex_pki::TrustStore;
use credex_protocol::query::Outcome;
use rustls_pki_types::UnixTime;
use serde::Serialize;

use credex_journal::Direction;

use crate::anchor::AuditOptions;
use crate::verify::{AuditReport, Auditor, verify_with};

/// One access to a subject, as its "who looked at my data" report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectAccess {
    /// The log that recorded it (the responder's).
    pub log: String,
    /// Entry index.
    pub index: u64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Requesting region and node.
    pub requester: String,
    /// The officers who asked and approved.
    pub officers: Vec<String>,
    /// Purpose code.
    pub purpose: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Fields released, `category.field`.
    pub released: Vec<String>,
}

/// Every access to a subject recorded in the exported logs (the responders'
/// entries), oldest first. The subject is matched by digest: the logs hold
/// no clear identifier. A natural person is named by pseudonym, one per
/// epoch, so `subjects` holds the person's pseudonym under every epoch the
/// period covered (`credex pseudonym of` prints them); an auditor needs no
/// key.
pub fn subject_report(
    dirs: &[PathBuf],
    trust: &TrustStore,
    options: &AuditOptions,
    subjects: &[credex_protocol::query::SubjectRef],
) -> (Vec<SubjectAccess>, AuditReport) {
    let report = verify_with(dirs, trust, options, &|_| {});
    let digests: Vec<[u8; 32]> = subjects
        .iter()
        .map(credex_journal::subject_digest)
        .collect();
    let mut out = Vec::new();
    let mut auditor = Auditor {
        trust,
        options,
        now: UnixTime::now(),
        report: AuditReport::default(),
        progress: &|_| {},
    };
    for dir in dirs {
        if let Some(log) = auditor.load(dir, &[]) {
            for (index, e) in log.accesses {
                if e.direction != Direction::Received || !digests.contains(&e.subject_digest) {
                    continue;
                }
                out.push(SubjectAccess {
                    log: log.origin.clone(),
                    index,
                    at_ms: e.at_ms,
                    requester: format!("{}/{}", e.requester_region, e.requester_node),
                    officers: [&e.requester_officer, &e.approver_officer]
                        .into_iter()
                        .flatten()
                        .map(|o| o.identity.clone())
                        .collect(),
                    purpose: e.purpose.clone(),
                    outcome: e.outcome,
                    released: e
                        .released
                        .iter()
                        .flat_map(|c| c.fields.iter().map(move |f| format!("{}.{f}", c.category)))
                        .collect(),
                });
            }
        }
    }
    out.sort_by_key(|a| a.at_ms);
    (out, report)
}
