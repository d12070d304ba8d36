//! The subject access report gathered across the federation (decision
//! 0980): the subject's home region asks every region it has a peer for
//! ([`SubjectAccessFederation::ask`], journaled `access_report_asked`);
//! each region answers with its own part, read from its own log and ledger
//! by a node task ([`spawn_answers`], journaled `access_report_answered`);
//! the home region shows the parts together with its own, and names the
//! regions still to answer and those that refused, with their reasons
//! ([`SubjectAccessFederation::gathered`]).
//!
//! Every message goes through the egress gate; a part carries access
//! metadata and record keys, never a record field or id. Who may ask is
//! the flow's rule (`credex_flows::rights::may_gather`).

use std::collections::BTreeSet;
use std::time::Duration;

use credex_flows::rights::{
    ASKED_NS, AccessAsked, AccessRequested, PARTS_NS, PartReceived, REFUSED_NS, REQUESTS_NS,
};
use credex_journal::{AccessReportAnswered, AccessReportAsked, ENTRY_VERSION, sha256};
use credex_policies::egress::{release_access_report_part, release_access_report_request};
use credex_protocol::RegionCode;
use credex_protocol::query::SubjectRef;
use credex_protocol::rights::{
    AccessLine, AccessReportPart, AccessReportRequest, DisclosureLine, MAX_PART_ACCESSES,
    MAX_PART_DISCLOSURES,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use super::{RecordDisclosure, SubjectAccess};
use crate::federation::{Federation, PrepareError};
use crate::storage::{StateWrite, StorageError};

/// How often the answering task looks for requests besides after writes.
const ANSWER_EVERY: Duration = Duration::from_secs(30);
/// The least time between two answering passes.
const ANSWER_PAUSE: Duration = Duration::from_millis(200);

/// Why gathering failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessReportError {
    /// No such request was sent from here.
    #[error("no access report request {0} was sent from this region")]
    UnknownRequest(String),
    /// This node has no peer to ask.
    #[error("this node has no peer region to ask")]
    NoPeers,
    /// This region may not gather this subject's report (every region
    /// would refuse it): says why.
    #[error("{0}")]
    NotEntitled(String),
    /// A message could not be prepared.
    #[error("{0}")]
    Prepare(#[from] PrepareError),
    /// The gate released nothing.
    #[error("{0}")]
    Egress(#[from] credex_policies::egress::EgressError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Stored state could not be read back.
    #[error("unreadable stored state: {0}")]
    Corrupt(String),
}

/// One region's part, as the home region shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegionPart {
    /// The region.
    pub region: String,
    /// Its log's size when it made the part.
    pub log_size: u64,
    /// When the part arrived, Unix ms (none for this region's own).
    pub received_at_ms: Option<i64>,
    /// The accesses its log records, oldest first.
    pub accesses: Vec<SubjectAccess>,
    /// The regions that received the subject's records from it. Other
    /// regions name records by key: `record_id` is the key's hex.
    pub disclosures: Vec<RecordDisclosure>,
    /// It found more than one part carries.
    pub truncated: bool,
}

/// A region that refused to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegionRefusal {
    /// The region.
    pub region: String,
    /// Its reason.
    pub reason: String,
}

/// The report gathered so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FederatedReport {
    /// The request's id.
    pub request: String,
    /// When it was asked, Unix ms.
    pub asked_at_ms: i64,
    /// Who asked.
    pub asked_by: String,
    /// This region's own part, then each region's that answered.
    pub parts: Vec<RegionPart>,
    /// Regions asked that have not answered yet (gaps in the report).
    pub waiting: Vec<String>,
    /// Regions that refused to answer.
    pub refused: Vec<RegionRefusal>,
}

/// Gathering a subject's access report across regions, and answering
/// other regions' requests.
#[derive(Clone)]
pub struct SubjectAccessFederation {
    federation: Federation,
    categories: Vec<String>,
    peers: Vec<RegionCode>,
}

impl SubjectAccessFederation {
    /// This with its writes fenced by the region's duties lease (the
    /// answers task, decision 1020).
    pub fn fenced(&self, fence: crate::storage::Fence) -> SubjectAccessFederation {
        SubjectAccessFederation {
            federation: self.federation.fenced(fence),
            ..self.clone()
        }
    }

    /// For the node whose messaging is `federation`, reading records of
    /// `categories`, asking the regions of `peers`.
    pub fn new(
        federation: Federation,
        categories: Vec<String>,
        peers: impl IntoIterator<Item = RegionCode>,
    ) -> Self {
        let here = federation.context().region;
        let peers: BTreeSet<RegionCode> = peers.into_iter().filter(|r| *r != here).collect();
        SubjectAccessFederation {
            federation,
            categories,
            peers: peers.into_iter().collect(),
        }
    }

    /// Ask every peer region for its part of `subject`'s access report, for
    /// `asked_by`. Returns the request's id (hex).
    pub async fn ask(
        &self,
        subject: SubjectRef,
        asked_by: &str,
        now_ms: i64,
    ) -> Result<String, AccessReportError> {
        if self.peers.is_empty() {
            return Err(AccessReportError::NoPeers);
        }
        // The rule every region applies to the request, applied here first.
        credex_flows::rights::may_gather(self.federation.context().region, &subject)
            .map_err(|e| AccessReportError::NotEntitled(e.to_string()))?;
        let request = crate::ids::random_id();
        let message = AccessReportRequest {
            request,
            subject: subject.clone(),
        };
        let bodies = self
            .peers
            .iter()
            .map(|region| release_access_report_request(*region, &message))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut writes, sent_to) = self.federation.prepare_all(bodies, now_ms)?;
        let asked = AccessAsked {
            subject: subject.clone(),
            regions: self.peers.clone(),
            asked_by: asked_by.to_owned(),
            at_ms: now_ms,
        };
        writes.push(
            StateWrite::encoded(ASKED_NS, hex::encode(request), &asked)
                .map_err(|e| AccessReportError::Corrupt(e.to_string()))?,
        );
        let entry = AccessReportAsked {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            request,
            subject_digest: credex_journal::subject_digest(&subject),
            asked_by: asked_by.to_owned(),
            sent_to,
        };
        self.federation
            .context()
            .storage
            .append_entry_with_state(&entry, writes)
            .await?;
        self.federation.wake();
        Ok(hex::encode(request))
    }

    /// The report of request `request` (hex) as gathered so far: this
    /// region's part read now, each part received, the regions still to
    /// answer and those that refused.
    pub async fn gathered(&self, request: &str) -> Result<FederatedReport, AccessReportError> {
        let storage = &self.federation.context().storage;
        let request = request.to_ascii_lowercase();
        let asked: AccessAsked = match storage.state(ASKED_NS, &request).await? {
            Some(v) => decode(&request, &v)?,
            None => return Err(AccessReportError::UnknownRequest(request)),
        };
        let (log_size, accesses, disclosures) = self.local(&asked.subject).await?;
        let mut parts = vec![RegionPart {
            region: self.federation.context().region.to_string(),
            log_size,
            received_at_ms: None,
            accesses,
            disclosures,
            truncated: false,
        }];
        let mut answered = BTreeSet::new();
        let prefix = format!("{request}/");
        for (key, value) in storage.state_scan_all(PARTS_NS, &prefix).await? {
            let received: PartReceived = decode(&key, &value)?;
            let region = key.trim_start_matches(&prefix).to_owned();
            answered.insert(region.clone());
            parts.push(RegionPart {
                region,
                log_size: received.part.log_size,
                received_at_ms: Some(received.at_ms),
                accesses: received
                    .part
                    .accesses
                    .iter()
                    .map(access_from_line)
                    .collect(),
                disclosures: received
                    .part
                    .disclosures
                    .iter()
                    .map(disclosure_from_line)
                    .collect(),
                truncated: received.part.truncated,
            });
        }
        let mut refused = Vec::new();
        for (key, value) in storage.state_scan_all(REFUSED_NS, &prefix).await? {
            let region = key.trim_start_matches(&prefix).to_owned();
            answered.insert(region.clone());
            refused.push(RegionRefusal {
                region,
                reason: String::from_utf8_lossy(&value).into_owned(),
            });
        }
        let waiting = asked
            .regions
            .iter()
            .map(ToString::to_string)
            .filter(|r| !answered.contains(r))
            .collect();
        Ok(FederatedReport {
            request,
            asked_at_ms: asked.at_ms,
            asked_by: asked.asked_by,
            parts,
            waiting,
            refused,
        })
    }

    /// Answer every request kept and not answered yet: this region's part,
    /// sent through the gate to the region that asked, with its journal
    /// entry and the request marked answered in one transaction. Returns
    /// how many were answered.
    pub async fn answer_pending(&self, now_ms: i64) -> Result<usize, AccessReportError> {
        let storage = &self.federation.context().storage;
        let mut answered = 0;
        for (key, value) in storage.state_scan_all(REQUESTS_NS, "").await? {
            let mut held: AccessRequested = decode(&key, &value)?;
            if held.answered_at_ms.is_some() {
                continue;
            }
            let (Some(to), Some(request)) = parse_request_key(&key) else {
                return Err(AccessReportError::Corrupt(format!(
                    "{REQUESTS_NS}/{key}: not REGION/REQUEST"
                )));
            };
            let mut part = self.local_part(&held.subject).await?;
            part.request = request;
            let encoded = credex_protocol::encode(&part)
                .map_err(|e| AccessReportError::Corrupt(e.to_string()))?;
            let body = release_access_report_part(to, &part)?;
            let (signed, outbox) = self.federation.prepare(body, now_ms)?;
            held.answered_at_ms = Some(now_ms);
            let entry = AccessReportAnswered {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                request,
                subject_digest: credex_journal::subject_digest(&held.subject),
                to,
                part_digest: sha256(&encoded),
                lines: (part.accesses.len() as u32, part.disclosures.len() as u32),
                message_id: signed.envelope.message_id,
            };
            let writes = vec![
                outbox,
                StateWrite::encoded(REQUESTS_NS, key.clone(), &held)
                    .map_err(|e| AccessReportError::Corrupt(e.to_string()))?,
            ];
            storage.append_entry_with_state(&entry, writes).await?;
            answered += 1;
        }
        if answered > 0 {
            self.federation.wake();
        }
        Ok(answered)
    }

    /// What this node's log and ledger hold about `subject`: the log's
    /// size, the accesses and the disclosures.
    async fn local(
        &self,
        subject: &SubjectRef,
    ) -> Result<(u64, Vec<SubjectAccess>, Vec<RecordDisclosure>), AccessReportError> {
        let storage = &self.federation.context().storage;
        let digest = credex_journal::subject_digest(subject);
        let (log_size, accesses) = super::accesses(storage, &[digest]).await?;
        let disclosures = super::disclosures(storage, subject, &self.categories).await?;
        Ok((log_size, accesses, disclosures))
    }

    /// What this node's log and ledger hold about `subject`, as a part
    /// (request id left zero).
    async fn local_part(
        &self,
        subject: &SubjectRef,
    ) -> Result<AccessReportPart, AccessReportError> {
        let (log_size, accesses, disclosures) = self.local(subject).await?;
        let truncated =
            accesses.len() > MAX_PART_ACCESSES || disclosures.len() > MAX_PART_DISCLOSURES;
        Ok(AccessReportPart {
            request: [0; 16],
            log_size,
            accesses: accesses
                .into_iter()
                .take(MAX_PART_ACCESSES)
                .map(line_from_access)
                .collect(),
            disclosures: disclosures
                .into_iter()
                .take(MAX_PART_DISCLOSURES)
                .filter_map(|d| line_from_disclosure(&d))
                .collect(),
            truncated,
        })
    }
}

/// Start answering other regions' requests: a pass after writes to the
/// store (at most one per [`ANSWER_PAUSE`]) and every [`ANSWER_EVERY`],
/// until shutdown.
pub fn spawn_answers(
    answers: SubjectAccessFederation,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    tracker.spawn(async move {
        let mut writes = answers.federation.context().storage.subscribe_writes();
        loop {
            writes.borrow_and_update();
            if let Err(e) = answers.answer_pending(answers.federation.context().storage.clock().now_ms()).await {
                tracing::error!(error = %e, "answering access report requests failed; trying again later");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(ANSWER_PAUSE) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = writes.changed() => {}
                _ = tokio::time::sleep(ANSWER_EVERY) => {}
            }
        }
    });
}

fn parse_request_key(key: &str) -> (Option<RegionCode>, Option<[u8; 16]>) {
    let Some((region, request)) = key.split_once('/') else {
        return (None, None);
    };
    let mut id = [0u8; 16];
    (
        region.parse().ok(),
        hex::decode_to_slice(request, &mut id).ok().map(|()| id),
    )
}

fn line_from_access(a: SubjectAccess) -> AccessLine {
    AccessLine {
        log_index: a.log_index,
        at_ms: a.at_ms,
        kind: a.kind,
        by: a.by,
        officers: a.officers,
        purpose: a.purpose,
        outcome: a.outcome,
        released: a.released,
    }
}

fn access_from_line(a: &AccessLine) -> SubjectAccess {
    SubjectAccess {
        log_index: a.log_index,
        at_ms: a.at_ms,
        kind: a.kind.clone(),
        by: a.by.clone(),
        officers: a.officers.clone(),
        purpose: a.purpose.clone(),
        outcome: a.outcome.clone(),
        released: a.released.clone(),
    }
}

/// A disclosure as a part names it: the record by key, never by id.
fn line_from_disclosure(d: &RecordDisclosure) -> Option<DisclosureLine> {
    Some(DisclosureLine {
        category: d.category.clone(),
        record: credex_journal::record_key(&d.category, &d.record_id),
        recipient: d.recipient.parse().ok()?,
        channel: d.channel.clone(),
        last_at_ms: d.last_at_ms,
    })
}

fn disclosure_from_line(d: &DisclosureLine) -> RecordDisclosure {
    RecordDisclosure {
        category: d.category.clone(),
        record_id: hex::encode(d.record),
        recipient: d.recipient.to_string(),
        channel: d.channel.clone(),
        last_at_ms: d.last_at_ms,
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, value: &[u8]) -> Result<T, AccessReportError> {
    credex_protocol::decode(value).map_err(|e| AccessReportError::Corrupt(format!("{key}: {e}")))
}
