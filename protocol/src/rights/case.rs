//! The subject's procedures against a record (异议 and 信用修复 of a
//! record, not of a list entry): a [`CaseFiling`] from the region the
//! subject filed in to the record's owner, which alone decides it, then a
//! [`CaseMark`] owner → every region that received the record (the
//! disclosures ledger's recipients) and the filer, each time the case
//! moves. The stages, outcomes and evidence are the list procedures'
//! ([`crate::lists`]), so a case reads the same whatever it is about.
//!
//! A case names the record by its [`record_key`](super::record_key) and the
//! subject as queries do (a USCC, or a natural person's keyed pseudonym):
//! no record id and no clear personal identifier crosses the wire. Enum
//! variant order is wire format: append, never insert.

use serde::{Deserialize, Serialize};

use crate::ids::RegionCode;
use crate::lists::{
    Evidence, ListsBoundError, Procedure, ProcedureStage, validate_evidence, validate_progress,
};
use crate::query::SubjectRef;

/// A subject's objection to a record (异议) or credit repair application
/// for it (信用修复申请), filed in one region for the record's owner (kind
/// [`super::kind::CASE_FILING`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFiling {
    /// Objection or repair.
    pub procedure: Procedure,
    /// The record's owner, the only region the filing goes to.
    pub owner: RegionCode,
    /// The subject the record is about.
    pub subject: SubjectRef,
    /// The record ([`super::record_key`]).
    pub record: [u8; 32],
    /// The subject's grounds (异议理由) or statement (修复申请说明).
    pub statement: String,
    /// The evidence: a repair needs a commitment letter (信用承诺书); an
    /// objection may carry supporting files.
    pub evidence: Vec<Evidence>,
}

impl CaseFiling {
    /// Check the bounds decoding alone does not, and every evidence file
    /// against its digest (`sha256` is passed in).
    pub fn validate(&self, sha256: impl Fn(&[u8]) -> [u8; 32]) -> Result<(), ListsBoundError> {
        crate::lists::text("statement", &self.statement, true)?;
        validate_evidence(&self.evidence, self.procedure, sha256)
    }
}

/// Where a case about a record stands, owner → every region holding the
/// record and the filer (kind [`super::kind::CASE_MARK`]): "异议处理中" or
/// "信用修复审核中" while pending, then its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMark {
    /// Objection or repair.
    pub procedure: Procedure,
    /// The record ([`super::record_key`]) of the sender.
    pub record: [u8; 32],
    /// The case (the id of the message that filed it, or of the owner's
    /// own filing entry).
    pub case: [u8; 16],
    /// The region the subject filed in.
    pub filed_in: RegionCode,
    /// Where the case stands.
    pub stage: ProcedureStage,
    /// The last day to accept or refuse it (`YYYY-MM-DD`, China time).
    pub accept_by: String,
    /// The last day to decide it, once accepted.
    pub decide_by: Option<String>,
    /// The owner's note (no record field, no personal identifier).
    pub note: String,
}

impl CaseMark {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), ListsBoundError> {
        validate_progress(
            self.procedure,
            self.stage,
            &self.accept_by,
            self.decide_by.as_deref(),
            &self.note,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::{EvidenceKind, ProcedureOutcome};
    use crate::{decode, encode};

    fn digest(bytes: &[u8]) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&(bytes.len() as u64).to_be_bytes());
        d[8] = bytes.first().copied().unwrap_or(0);
        d
    }

    fn filing(procedure: Procedure, evidence: Vec<Evidence>) -> CaseFiling {
        CaseFiling {
            procedure,
            owner: RegionCode::from_u32(520000).expect("region"),
            subject: SubjectRef::LegalPerson("91520100MA6DXXXX1X".into()),
            record: [7; 32],
            statement: "处罚决定已被撤销".into(),
            evidence,
        }
    }

    #[test]
    fn an_objection_needs_no_evidence_a_repair_needs_its_letter() {
        let objection = filing(Procedure::Objection, Vec::new());
        assert_eq!(objection.validate(digest), Ok(()));
        let back: CaseFiling = decode(&encode(&objection).expect("encodes")).expect("decodes");
        assert_eq!(back, objection);
        assert_eq!(
            filing(Procedure::Repair, Vec::new()).validate(digest),
            Err(ListsBoundError::BadEvidence { files: 0, bytes: 0 })
        );
        let receipt = Evidence {
            kind: EvidenceKind::ProofOfPerformance,
            title: "receipt.pdf".into(),
            digest: digest(b"paid"),
            content: b"paid".to_vec(),
        };
        assert_eq!(
            filing(Procedure::Repair, vec![receipt.clone()]).validate(digest),
            Err(ListsBoundError::NoCommitmentLetter)
        );
        let mut forged = receipt;
        forged.kind = EvidenceKind::CommitmentLetter;
        forged.content = b"PAID".to_vec();
        assert!(matches!(
            filing(Procedure::Repair, vec![forged]).validate(digest),
            Err(ListsBoundError::EvidenceDigest { index: 0, .. })
        ));
    }

    #[test]
    fn a_mark_may_not_carry_the_other_procedures_outcome() {
        let mark = CaseMark {
            procedure: Procedure::Objection,
            record: [1; 32],
            case: [2; 16],
            filed_in: RegionCode::from_u32(500000).expect("region"),
            stage: ProcedureStage::Decided(ProcedureOutcome::Granted),
            accept_by: "2026-12-08".into(),
            decide_by: None,
            note: String::new(),
        };
        assert!(matches!(
            mark.validate(),
            Err(ListsBoundError::OutcomeOfOtherProcedure { .. })
        ));
        let upheld = CaseMark {
            stage: ProcedureStage::Decided(ProcedureOutcome::Upheld),
            ..mark
        };
        assert_eq!(upheld.validate(), Ok(()));
    }
}
