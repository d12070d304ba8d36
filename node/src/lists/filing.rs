//! Filing a subject's case in a region that holds another region's entry:
//! an objection (异议, [`Lists::objection`]) or a credit repair
//! application (信用修复申请, [`Lists::apply_repair`]), routed to the entry's
//! origin, which alone decides it (`procedures`).
//!
//! Each is sent through the egress gate in one transaction with its
//! journal entry (`objection_routed`, `repair_routed`: digests only) and
//! with this region's own count of the acceptance deadline, so a missed
//! deadline shows here even if the origin never marks the case.

use credex_flows::calendar::{china_date, date_text, deadline_date, parse_date};
use credex_flows::lists::LocalFiling;
use credex_flows::lists::{FILED_NS, FiledCase, HeldEntry, mark_key};
use credex_journal::{ENTRY_VERSION, ObjectionRouted, ProcedureMarked, RepairRouted, sha256};
use credex_policies::egress::{ReleasedBody, release_objection, release_repair_application};
use credex_policies::repair::{Eligibility, RightsRules};
use credex_protocol::lists::{EntryId, Objection, Procedure, ProcedureStage, RepairApplication};

use super::policy::list_type;
use super::state::{encode, read};
use super::{Lists, ListsError, RECEIVED_NS};
use crate::rights::EvidenceFile;
use crate::storage::StateWrite;

impl Lists {
    /// Route a subject's objection (异议) to an entry this region received
    /// back to the entry's origin, which alone can uphold it.
    pub async fn objection(
        &self,
        id: &EntryId,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let objection = Objection {
            entry: *id,
            reason: reason.to_owned(),
        };
        objection
            .validate()
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        if id.origin == self.ctx().region {
            let digest = sha256(reason.as_bytes());
            self.file_here(id, LocalFiling::Objection(objection), digest, now_ms)
                .await?;
            return Ok(());
        }
        self.held(id).await?;
        let body = release_objection(id.origin, &objection)?;
        self.file(id, Procedure::Objection, body, now_ms, |message_id| {
            ObjectionRouted {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                entry: *id,
                reason_digest: sha256(reason.as_bytes()),
                message_id,
            }
        })
        .await
    }

    /// Route a subject's credit repair application (信用修复申请) for an
    /// entry this region received to the entry's origin, with its
    /// `statement` and `evidence` (a commitment letter, 信用承诺书, among
    /// them). Refused here already when the national minimum period has not
    /// passed (a province only lengthens it), naming the first day an
    /// application may be made. Returns the case id (hex).
    pub async fn apply_repair(
        &self,
        id: &EntryId,
        statement: &str,
        evidence: Vec<EvidenceFile>,
        now_ms: i64,
    ) -> Result<String, ListsError> {
        if id.origin != self.ctx().region {
            national_eligibility(&self.held(id).await?, now_ms)?;
        }
        let application = RepairApplication {
            entry: *id,
            statement: statement.to_owned(),
            evidence: evidence
                .into_iter()
                .map(EvidenceFile::into_evidence)
                .collect(),
        };
        application
            .validate(sha256)
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        if id.origin == self.ctx().region {
            let digest = sha256(statement.as_bytes());
            return self
                .file_here(id, LocalFiling::Repair(application), digest, now_ms)
                .await;
        }
        let digests = application
            .evidence
            .iter()
            .map(|e| (e.kind, e.digest))
            .collect::<Vec<_>>();
        let body = release_repair_application(id.origin, &application)?;
        let mut case = String::new();
        self.file(id, Procedure::Repair, body, now_ms, |message_id| {
            case = hex::encode(message_id);
            RepairRouted {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                entry: *id,
                statement_digest: sha256(statement.as_bytes()),
                evidence: digests,
                message_id,
            }
        })
        .await?;
        Ok(case)
    }

    /// Open a case about this region's own entry `id`, filed here: the
    /// flow's own decision (`credex_flows::lists::Lists::file_here`),
    /// committed with its marks and a `procedure_marked` entry (stage
    /// `filed`, `text_digest` of the grounds or statement). Returns the case
    /// id (hex).
    async fn file_here(
        &self,
        id: &EntryId,
        filing: LocalFiling,
        text_digest: [u8; 32],
        now_ms: i64,
    ) -> Result<String, ListsError> {
        let ctx = self.ctx();
        let procedure = match &filing {
            LocalFiling::Objection(_) => Procedure::Objection,
            LocalFiling::Repair(_) => Procedure::Repair,
        };
        let _local = self.local.lock().await;
        let case = crate::ids::random_id();
        let view = crate::federation::read_view(
            &ctx.storage,
            &credex_flows::lists::case_reads(id, ctx.region),
        )
        .await?;
        let effect = self
            .policy
            .flow(ctx.region)
            .file_here(now_ms, &view, case, filing)
            .map_err(|r| ListsError::Invalid(r.to_string()))?;
        let mut writes = effect.state;
        let (outbox, sent_to) = self.federation.prepare_all(effect.send, now_ms)?;
        writes.extend(outbox);
        let entry = ProcedureMarked {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            procedure,
            entry: *id,
            case,
            stage: ProcedureStage::Filed,
            note_digest: text_digest,
            sent_to,
        };
        ctx.storage.append_entry_with_state(&entry, writes).await?;
        self.federation.wake();
        Ok(hex::encode(case))
    }

    /// The entry `id` as held here.
    async fn held(&self, id: &EntryId) -> Result<HeldEntry, ListsError> {
        read(&self.ctx().storage, RECEIVED_NS, &id.to_string())
            .await?
            .ok_or(ListsError::NotHeld(*id))
    }

    /// Send `body` (a case of `procedure` about `id`) to the entry's origin
    /// with the journal entry `journal` makes of its message id, and this
    /// region's count of the acceptance deadline, in one transaction.
    async fn file<E: credex_journal::Entry>(
        &self,
        id: &EntryId,
        procedure: Procedure,
        body: ReleasedBody,
        now_ms: i64,
        journal: impl FnOnce([u8; 16]) -> E,
    ) -> Result<(), ListsError> {
        let ctx = self.ctx();
        let (signed, outbox) = self.federation.prepare(body, now_ms)?;
        let message_id = signed.envelope.message_id;
        let filed = FiledCase {
            procedure,
            at_ms: now_ms,
            accept_by: deadline_date(
                &self.policy.calendar,
                now_ms,
                self.policy.deadlines(procedure).accept_working_days,
            ),
        };
        let filed = StateWrite::put(FILED_NS, mark_key(id, &message_id), encode(&filed)?);
        ctx.storage
            .append_entry_with_state(&journal(message_id), vec![outbox, filed])
            .await?;
        self.federation.wake();
        Ok(())
    }
}

/// Refused when the national rules already say no repair of `held` may be
/// applied for on the China day of `now_ms`: the origin's rules are the
/// national ones or tighter, so an application they refuse would be
/// refused there too.
fn national_eligibility(held: &HeldEntry, now_ms: i64) -> Result<(), ListsError> {
    let entry = &held.entry;
    let category = list_type(entry.list_type).catalogue_category();
    let listed = parse_date(&entry.entry_date).ok_or_else(|| {
        ListsError::Corrupt(format!(
            "entry {}: bad date {:?}",
            entry.id, entry.entry_date
        ))
    })?;
    let today = china_date(now_ms)
        .ok_or_else(|| ListsError::Invalid(format!("time {now_ms} has no China date")))?;
    match RightsRules::national().eligibility(category, None, listed, today) {
        Eligibility::Repairable { .. } => Ok(()),
        Eligibility::TooEarly { from } => Err(ListsError::Invalid(format!(
            "entry {} ({category}, listed {}) may be repaired from {} at the earliest",
            entry.id,
            entry.entry_date,
            date_text(from)
        ))),
        Eligibility::Ended { on } => Err(ListsError::Invalid(format!(
            "entry {}'s publication ended on {}: there is nothing to repair",
            entry.id,
            date_text(on)
        ))),
        Eligibility::NotPublished => Err(ListsError::Invalid(format!(
            "entry {} is on a list ({category}) with no repair procedure",
            entry.id
        ))),
    }
}
