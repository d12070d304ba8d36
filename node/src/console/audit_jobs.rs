//! The audits run from the console, held in memory while their auditors
//! look at them: each one's progress and, once done, what it found.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use credex_audit::{AccessOverview, Anomaly, AuditReport};
use serde::Serialize;

/// Most finished audits kept; the oldest is dropped first.
pub const MAX_AUDITS: usize = 32;

/// Where an audit stands.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    /// Its id.
    pub id: String,
    /// `running` or `done`.
    pub state: &'static str,
    /// Entries checked so far.
    pub checked: u64,
    /// Entries in the export's checkpoint.
    pub total: u64,
    /// The findings, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<AuditReport>,
    /// The anomalies flagged in the accesses, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomalies: Option<Vec<Anomaly>>,
    /// The accesses counted per day, peer, purpose, officer and category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overview: Option<AccessOverview>,
}

/// What a finished audit found.
pub struct Findings {
    /// The verification's report.
    pub report: AuditReport,
    /// The anomalies flagged in the accesses.
    pub anomalies: Vec<Anomaly>,
    /// The accesses counted.
    pub overview: AccessOverview,
}

/// One audit: who started it, how far it got, what it found.
pub struct Job {
    /// The auditor's identity URI.
    pub officer: String,
    /// Entries checked so far.
    pub checked: AtomicU64,
    /// Entries in the export's checkpoint.
    pub total: u64,
    /// The findings, once done.
    pub result: Mutex<Option<Findings>>,
}

/// The audits run from this console.
#[derive(Default)]
pub struct Audits {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    order: Mutex<Vec<String>>,
}

impl Audits {
    /// Keep `job` as audit `id`, dropping the oldest beyond [`MAX_AUDITS`].
    pub fn add(&self, id: String, job: Arc<Job>) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if order.len() >= MAX_AUDITS {
            let oldest = order.remove(0);
            jobs.remove(&oldest);
        }
        order.push(id.clone());
        jobs.insert(id, job);
    }

    /// The audit `id`.
    pub fn find(&self, id: &str) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(id).cloned()
    }
}

/// The view of audit `id`.
pub fn view(id: &str, job: &Job) -> AuditView {
    let result = job.result.lock().unwrap_or_else(|p| p.into_inner());
    AuditView {
        id: id.to_owned(),
        state: if result.is_some() { "done" } else { "running" },
        checked: job.checked.load(Ordering::Relaxed),
        total: job.total,
        report: result.as_ref().map(|f| f.report.clone()),
        anomalies: result.as_ref().map(|f| f.anomalies.clone()),
        overview: result.as_ref().map(|f| f.overview.clone()),
    }
}
