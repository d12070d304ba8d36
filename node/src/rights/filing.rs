//! Filing a subject's case about a record (异议, 信用修复申请) in whichever
//! region the subject deals with. For another region's record it goes to
//! the owner through the egress gate, in one transaction with its journal
//! entry (`case_routed`, digests only) and this region's own count of the
//! acceptance deadline; for one of this region's records the case opens
//! here at once (`case_marked`, stage `filed`), exactly as a filing from
//! another region would open it.

use credex_flows::calendar::deadline_date;
use credex_flows::rights::{FILED_NS, FiledRecordCase, case_reads, mark_key};
use credex_journal::{CaseMarked, CaseRouted, ENTRY_VERSION, record_key, sha256};
use credex_policies::egress::release_case_filing;
use credex_protocol::RegionCode;
use credex_protocol::lists::Procedure;
use credex_protocol::query::SubjectRef;
use credex_protocol::rights::CaseFiling;

use super::procedure::EvidenceFile;
use super::{RecordCases, RightsError};
use crate::storage::StateWrite;

/// A case as the officer who takes it from the subject files it.
#[derive(Debug, Clone)]
pub struct CaseToFile {
    /// Objection or repair.
    pub procedure: Procedure,
    /// The region that owns the record.
    pub owner: RegionCode,
    /// The subject, as queries name it.
    pub subject: SubjectRef,
    /// The record's category.
    pub category: String,
    /// The record's id at its owner (never sent: only its key is).
    pub record_id: String,
    /// The subject's grounds or statement.
    pub statement: String,
    /// The evidence (a repair needs a commitment letter, 信用承诺书).
    pub evidence: Vec<EvidenceFile>,
}

impl RecordCases {
    /// File `case`: sent to the record's owner, or opened here when this
    /// region owns the record. Returns the case id (hex).
    pub async fn file(&self, case: CaseToFile, now_ms: i64) -> Result<String, RightsError> {
        let record = record_key(&case.category, &case.record_id);
        let filing = CaseFiling {
            procedure: case.procedure,
            owner: case.owner,
            subject: case.subject,
            record,
            statement: case.statement,
            evidence: case
                .evidence
                .into_iter()
                .map(EvidenceFile::into_evidence)
                .collect(),
        };
        filing
            .validate(sha256)
            .map_err(|e| RightsError::Invalid(e.to_string()))?;
        if filing.owner == self.region() {
            return self.open_here(filing, now_ms).await;
        }
        let routed = |message_id| CaseRouted {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            procedure: filing.procedure,
            owner: filing.owner,
            record,
            statement_digest: sha256(filing.statement.as_bytes()),
            evidence: filing.evidence.iter().map(|e| (e.kind, e.digest)).collect(),
            message_id,
        };
        let body = release_case_filing(filing.owner, &filing)?;
        let (signed, outbox) = self.federation.prepare(body, now_ms)?;
        let message_id = signed.envelope.message_id;
        let filed = FiledRecordCase {
            procedure: filing.procedure,
            at_ms: now_ms,
            accept_by: deadline_date(
                &self.calendar,
                now_ms,
                self.rules.deadlines(filing.procedure).accept_working_days,
            ),
            refused: None,
        };
        let filed = StateWrite::encoded(
            FILED_NS,
            mark_key(filing.owner, &record, &message_id),
            &filed,
        )
        .map_err(|e| RightsError::Corrupt(e.to_string()))?;
        self.ctx()
            .storage
            .append_entry_with_state(&routed(message_id), vec![outbox, filed])
            .await?;
        self.federation.wake();
        Ok(hex::encode(message_id))
    }

    /// Open `filing`, about one of this region's records, here: the same
    /// decision a filing from another region gets.
    async fn open_here(&self, filing: CaseFiling, now_ms: i64) -> Result<String, RightsError> {
        let _local = self.local.lock().await;
        let storage = &self.ctx().storage;
        let case = crate::ids::random_id();
        let view =
            crate::federation::read_view(storage, &case_reads(&filing.subject, &filing.record))
                .await?;
        let (procedure, record) = (filing.procedure, filing.record);
        let statement_digest = sha256(filing.statement.as_bytes());
        let effect = self
            .flow()
            .open_case(now_ms, &view, filing, case, self.region())
            .map_err(|r| RightsError::Invalid(r.to_string()))?;
        let mut writes = effect.state;
        let (outbox, sent_to) = self.federation.prepare_all(effect.send, now_ms)?;
        writes.extend(outbox);
        let entry = CaseMarked {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            procedure,
            record,
            case,
            stage: credex_protocol::lists::ProcedureStage::Filed,
            text_digest: statement_digest,
            sent_to,
        };
        storage.append_entry_with_state(&entry, writes).await?;
        self.federation.wake();
        Ok(hex::encode(case))
    }
}
