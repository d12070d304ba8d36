//! credex-audit: the offline verifier of credex access logs (调阅日志审计).
//!
//! An auditor holds exported logs (C2SP tlog-tiles with checkpoints,
//! cosignatures and attachments, one directory per node) and the federation
//! root; nothing of the nodes that wrote them. [`verify_with`] checks, per
//! log: the node certificate that binds the log key (and, under `sm2-sm3`,
//! the signing certificate whose SM2 line every checkpoint then carries:
//! decision 1070); every tile and entry
//! against the signed checkpoint; under `sm2-sm3`, every checkpoint's SM3
//! root against the entries (decision 1100); every stored checkpoint against the log's
//! own prefix (a rewrite or fork is caught); what vouches for the log beyond
//! its own key ([`anchor`]: witnesses' cosignatures, pinned checkpoints);
//! each access's dual authorization as of its time and the archived
//! policy's decision re-run ([`received`]); the releases as a sequence
//! ([`replay`]); each federation message's signatures and egress decision
//! re-run ([`messages`], [`egress`]); each disclosure entered in the
//! ledger against the release it belongs to ([`disclosures`]); each change
//! of a record against the corrections owed and acknowledged
//! ([`corrections`]). Across logs it matches every access
//! and message between its two sides. [`subject_report`] lists who
//! accessed a subject. [`find_anomalies`] points at authorized accesses
//! worth a second look (异常), as pure functions of the accesses.
//!
//! It re-runs decisions with the same functions the node runs
//! (`credex-flows`, `credex-policies`, `credex-pki`), so an honest node is
//! never a finding. It does no network, storage or async work: no tokio,
//! sqlx or quinn (a test in `tests/` checks the dependency tree), so an
//! auditor's tool — or a port to another language — needs nothing of the
//! node. Reading an export is plain, size-bounded file I/O ([`tiles`]).

#![forbid(unsafe_code)]

mod across;
pub mod anchor;
pub mod anomalies;
pub mod corrections;
pub mod decisions;
pub mod disclosures;
pub mod duties;
pub mod egress;
mod entries;
mod load;
pub mod messages;
pub mod overview;
pub mod received;
pub mod replay;
pub mod report;
mod signing_chain;
mod sm3_tree;
pub mod subject;
pub mod tiles;
pub mod verify;

pub use anchor::{Anchor, AuditOptions};
pub use anomalies::{Access, Anomaly, AnomalyRule, Context, Thresholds, find_anomalies};
pub use overview::{AccessOverview, overview};
pub use subject::{SubjectAccess, subject_report};
pub use verify::{
    AuditReport, LogSummary, Violation, total_entries, verify, verify_accesses, verify_with,
    verify_with_progress,
};
