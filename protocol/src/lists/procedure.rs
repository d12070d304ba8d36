//! The subject's two procedures against a list entry, both handled by the
//! entry's origin and marked on every region holding it (异议 and 信用修复):
//! an [`Objection`] or a [`RepairApplication`] routed member → origin, then
//! a [`ProcedureMark`] origin → every holder each time the case moves.
//! Enum variant order is wire format: append, never insert.

use serde::{Deserialize, Serialize};

use super::{EntryId, ListsBoundError, date, text};
use crate::ids::RegionCode;

/// Which procedure a case follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    /// Index 0. An objection to the entry (异议): it may be wrong.
    Objection,
    /// Index 1. An application for credit repair (信用修复): the subject
    /// corrected its conduct and asks for publication to end early.
    Repair,
}

impl Procedure {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Procedure::Objection => "objection",
            Procedure::Repair => "repair",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Procedure::Objection => "异议",
            Procedure::Repair => "信用修复",
        }
    }

    /// What holders show while a case of this procedure is pending.
    pub fn pending_zh(self) -> &'static str {
        match self {
            Procedure::Objection => "异议处理中",
            Procedure::Repair => "信用修复审核中",
        }
    }
}

/// What a case is about: a list entry (decided by its origin) or a record
/// (decided by its owner; an evaluation result is one too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseAbout {
    /// Index 0. A joint reward/punishment list entry.
    Entry(EntryId),
    /// Index 1. A record of `owner`, by its key (`rights::record_key`).
    Record {
        /// The region that owns the record.
        owner: RegionCode,
        /// The record's key.
        record: [u8; 32],
    },
}

impl CaseAbout {
    /// The region that decides the case: the entry's origin, the record's
    /// owner.
    pub fn decider(&self) -> RegionCode {
        match self {
            CaseAbout::Entry(id) => id.origin,
            CaseAbout::Record { owner, .. } => *owner,
        }
    }
}

impl std::fmt::Display for CaseAbout {
    /// `entry REGION-HEX`, or `record REGION/HEX16` (the key's first 8
    /// bytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseAbout::Entry(id) => write!(f, "entry {id}"),
            CaseAbout::Record { owner, record } => {
                write!(f, "record {owner}/")?;
                record[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A subject's objection (异议), routed by a member to the origin, which
/// alone can uphold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    /// The entry.
    pub entry: EntryId,
    /// The subject's grounds, 1 to [`super::MAX_TEXT`] bytes.
    pub reason: String,
}

/// Where a case stands at the origin (办理状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureStage {
    /// Index 0. Received, to be accepted or refused by `accept_by` (待受理).
    Filed,
    /// Index 1. Accepted, to be decided by `decide_by` (已受理).
    Accepted,
    /// Index 2. Refused without review (不予受理): the mark ends.
    Refused,
    /// Index 3. Decided (已办结): the mark ends.
    Decided(ProcedureOutcome),
}

impl ProcedureStage {
    /// Whether the case is still being handled (异议处理中, 修复审核中):
    /// every holder shows the entry as such.
    pub fn pending(self) -> bool {
        matches!(self, ProcedureStage::Filed | ProcedureStage::Accepted)
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ProcedureStage::Filed => "filed",
            ProcedureStage::Accepted => "accepted",
            ProcedureStage::Refused => "refused",
            ProcedureStage::Decided(o) => o.code(),
        }
    }
}

/// How a case was decided. `Upheld`, `Corrected` and `Dismissed` decide
/// objections, `Granted` and `Rejected` repairs, `Withdrawn` either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureOutcome {
    /// Index 0. Upheld (异议成立): the entry is revoked.
    Upheld,
    /// Index 1. Upheld in part (部分成立): the entry is corrected.
    Corrected,
    /// Index 2. Not upheld (异议不成立): the entry stands.
    Dismissed,
    /// Index 3. Withdrawn by the subject (主动撤回).
    Withdrawn,
    /// Index 4. Repair granted (准予修复): the entry ends on every holder.
    Granted,
    /// Index 5. Repair rejected (不予修复): the entry stands.
    Rejected,
}

impl ProcedureOutcome {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ProcedureOutcome::Upheld => "upheld",
            ProcedureOutcome::Corrected => "corrected",
            ProcedureOutcome::Dismissed => "dismissed",
            ProcedureOutcome::Withdrawn => "withdrawn",
            ProcedureOutcome::Granted => "granted",
            ProcedureOutcome::Rejected => "rejected",
        }
    }

    /// Whether this outcome can decide a case of `procedure`.
    pub fn decides(self, procedure: Procedure) -> bool {
        use ProcedureOutcome::*;
        match procedure {
            Procedure::Objection => matches!(self, Upheld | Corrected | Dismissed | Withdrawn),
            Procedure::Repair => matches!(self, Granted | Rejected | Withdrawn),
        }
    }

    /// The outcome of a [`ProcedureOutcome::code`].
    pub fn from_code(code: &str) -> Option<ProcedureOutcome> {
        [
            ProcedureOutcome::Upheld,
            ProcedureOutcome::Corrected,
            ProcedureOutcome::Dismissed,
            ProcedureOutcome::Withdrawn,
            ProcedureOutcome::Granted,
            ProcedureOutcome::Rejected,
        ]
        .into_iter()
        .find(|o| o.code() == code)
    }
}

/// A deadline of a procedure (办理时限).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureDeadline {
    /// Index 0. To accept or refuse the case (受理).
    Acceptance,
    /// Index 1. To decide it once accepted (办结).
    Decision,
}

impl ProcedureDeadline {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ProcedureDeadline::Acceptance => "acceptance",
            ProcedureDeadline::Decision => "decision",
        }
    }
}

/// Where a case against an entry stands, origin → every region holding
/// the entry, each time it moves: filed, accepted or refused, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureMark {
    /// Objection or repair.
    pub procedure: Procedure,
    /// The entry the case is about.
    pub entry: EntryId,
    /// The case: the message id of the [`Objection`] or
    /// [`RepairApplication`] that filed it.
    pub case: [u8; 16],
    /// The region the subject filed it in.
    pub filed_in: RegionCode,
    /// Where it stands.
    pub stage: ProcedureStage,
    /// The last day (China time, `YYYY-MM-DD`) to accept or refuse it.
    pub accept_by: String,
    /// The last day to decide it, once accepted.
    pub decide_by: Option<String>,
    /// The origin's note for the holders (may be empty; no personal data).
    pub note: String,
}

impl ProcedureMark {
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

/// Check where a case of `procedure` stands, as any mark of it carries it
/// (a list entry's or a record's): an outcome of this procedure, real
/// dates, a bounded note.
pub fn validate_progress(
    procedure: Procedure,
    stage: ProcedureStage,
    accept_by: &str,
    decide_by: Option<&str>,
    note: &str,
) -> Result<(), ListsBoundError> {
    if let ProcedureStage::Decided(outcome) = stage
        && !outcome.decides(procedure)
    {
        return Err(ListsBoundError::OutcomeOfOtherProcedure {
            procedure: procedure.code(),
            outcome: outcome.code(),
        });
    }
    date("accept_by", accept_by)?;
    if let Some(d) = decide_by {
        date("decide_by", d)?;
    }
    text("note", note, false)
}

impl Objection {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), ListsBoundError> {
        text("reason", &self.reason, true)
    }
}

/// Most evidence files on one application.
pub const MAX_EVIDENCE_FILES: usize = 8;
/// Most evidence bytes on one application, all files together: the
/// application travels in one federation message (decision 0960).
pub const MAX_EVIDENCE_BYTES: usize = 384 * 1024;
/// Longest evidence title, in bytes.
pub const MAX_EVIDENCE_TITLE: usize = 128;

/// What a piece of evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Index 0. The subject's credit commitment letter (信用承诺书); every
    /// application carries one.
    CommitmentLetter,
    /// Index 1. Proof that the penalty was performed (履行完毕证明), e.g. a
    /// receipt of the fine paid.
    ProofOfPerformance,
    /// Index 2. Anything else the subject submits (e.g. a training
    /// certificate, 信用修复培训证明).
    Other,
}

impl EvidenceKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            EvidenceKind::CommitmentLetter => "commitment_letter",
            EvidenceKind::ProofOfPerformance => "proof_of_performance",
            EvidenceKind::Other => "other",
        }
    }

    /// The kind of a [`EvidenceKind::code`].
    pub fn from_code(code: &str) -> Option<EvidenceKind> {
        [
            EvidenceKind::CommitmentLetter,
            EvidenceKind::ProofOfPerformance,
            EvidenceKind::Other,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// One file a subject submits with a repair application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What it is.
    pub kind: EvidenceKind,
    /// Its title, 1 to [`MAX_EVIDENCE_TITLE`] bytes (e.g. the file name).
    pub title: String,
    /// SHA-256 of `content`, as the filing region logged it.
    pub digest: [u8; 32],
    /// The file itself.
    #[serde(with = "serde_bytes")]
    pub content: Vec<u8>,
}

/// A subject's application for credit repair (信用修复申请) of an entry,
/// filed in a region holding it and routed member → origin, which alone
/// can grant it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairApplication {
    /// The entry.
    pub entry: EntryId,
    /// The subject's statement of how it corrected its conduct, 1 to
    /// [`super::MAX_TEXT`] bytes.
    pub statement: String,
    /// The evidence: a commitment letter, and at most
    /// [`MAX_EVIDENCE_FILES`] files of [`MAX_EVIDENCE_BYTES`] in all.
    pub evidence: Vec<Evidence>,
}

impl RepairApplication {
    /// Check the bounds decoding alone does not, and that every evidence
    /// file matches its digest (`sha256` is passed in: this crate does no
    /// hashing of its own).
    pub fn validate(&self, sha256: impl Fn(&[u8]) -> [u8; 32]) -> Result<(), ListsBoundError> {
        text("statement", &self.statement, true)?;
        validate_evidence(&self.evidence, Procedure::Repair, sha256)
    }
}

/// Check the evidence filed with a case of `procedure`: at most
/// [`MAX_EVIDENCE_FILES`] files and [`MAX_EVIDENCE_BYTES`] in all, each
/// titled and matching its digest; a repair needs at least one file, a
/// commitment letter (信用承诺书) among them, an objection may have none.
pub fn validate_evidence(
    evidence: &[Evidence],
    procedure: Procedure,
    sha256: impl Fn(&[u8]) -> [u8; 32],
) -> Result<(), ListsBoundError> {
    let total: usize = evidence.iter().map(|e| e.content.len()).sum();
    let too_few = procedure == Procedure::Repair && evidence.is_empty();
    if too_few || evidence.len() > MAX_EVIDENCE_FILES || total > MAX_EVIDENCE_BYTES {
        return Err(ListsBoundError::BadEvidence {
            files: evidence.len(),
            bytes: total,
        });
    }
    if procedure == Procedure::Repair
        && !evidence
            .iter()
            .any(|e| e.kind == EvidenceKind::CommitmentLetter)
    {
        return Err(ListsBoundError::NoCommitmentLetter);
    }
    for (index, e) in evidence.iter().enumerate() {
        if e.title.trim().is_empty() || e.title.len() > MAX_EVIDENCE_TITLE {
            return Err(ListsBoundError::BadEvidenceTitle { index });
        }
        if e.content.is_empty() || sha256(&e.content) != e.digest {
            return Err(ListsBoundError::EvidenceDigest {
                index,
                title: e.title.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    /// A stand-in digest (this crate does no hashing): the bytes' length
    /// and first byte.
    fn digest(bytes: &[u8]) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&(bytes.len() as u64).to_be_bytes());
        d[8] = bytes.first().copied().unwrap_or(0);
        d
    }

    fn application() -> RepairApplication {
        let file = |kind, content: &[u8]| Evidence {
            kind,
            title: "f.pdf".into(),
            digest: digest(content),
            content: content.to_vec(),
        };
        RepairApplication {
            entry: "520000-000102030405060708090a0b0c0d0e0f"
                .parse()
                .expect("id"),
            statement: "罚款已缴清".into(),
            evidence: vec![
                file(EvidenceKind::CommitmentLetter, b"letter"),
                file(EvidenceKind::ProofOfPerformance, b"receipt"),
            ],
        }
    }

    #[test]
    fn an_application_round_trips_and_its_evidence_is_checked() {
        let a = application();
        assert_eq!(a.validate(digest), Ok(()));
        let back: RepairApplication = decode(&encode(&a).expect("encodes")).expect("decodes");
        assert_eq!(back, a);
        let mut tampered = a.clone();
        tampered.evidence[1].content[0] ^= 1;
        assert!(matches!(
            tampered.validate(digest),
            Err(ListsBoundError::EvidenceDigest { index: 1, .. })
        ));
        let mut no_letter = a.clone();
        no_letter.evidence.remove(0);
        assert_eq!(
            no_letter.validate(digest),
            Err(ListsBoundError::NoCommitmentLetter)
        );
        let mut big = a.clone();
        big.evidence[0].content = vec![7; MAX_EVIDENCE_BYTES];
        big.evidence[0].digest = digest(&big.evidence[0].content);
        assert!(matches!(
            big.validate(digest),
            Err(ListsBoundError::BadEvidence { files: 2, .. })
        ));
        let mut untitled = a;
        untitled.evidence[0].title = " ".into();
        assert_eq!(
            untitled.validate(digest),
            Err(ListsBoundError::BadEvidenceTitle { index: 0 })
        );
    }

    #[test]
    fn a_case_is_decided_only_by_an_outcome_of_its_procedure() {
        let mark = |procedure, outcome| ProcedureMark {
            procedure,
            entry: "520000-000102030405060708090a0b0c0d0e0f"
                .parse()
                .expect("id"),
            case: [1; 16],
            filed_in: "500000".parse().expect("region"),
            stage: ProcedureStage::Decided(outcome),
            accept_by: "2026-12-08".into(),
            decide_by: None,
            note: String::new(),
        };
        use ProcedureOutcome::*;
        for (procedure, ok, wrong) in [
            (
                Procedure::Objection,
                [Upheld, Dismissed, Withdrawn],
                Granted,
            ),
            (Procedure::Repair, [Granted, Rejected, Withdrawn], Upheld),
        ] {
            for outcome in ok {
                assert_eq!(mark(procedure, outcome).validate(), Ok(()));
            }
            assert!(matches!(
                mark(procedure, wrong).validate(),
                Err(ListsBoundError::OutcomeOfOtherProcedure { .. })
            ));
        }
    }

    #[test]
    fn enum_order_is_wire_format() {
        assert_eq!(encode(&Procedure::Repair).expect("encodes"), [1]);
        assert_eq!(encode(&ProcedureOutcome::Granted).expect("encodes"), [4]);
        assert_eq!(encode(&ProcedureOutcome::Rejected).expect("encodes"), [5]);
        assert_eq!(encode(&EvidenceKind::Other).expect("encodes"), [2]);
        for kind in [
            EvidenceKind::CommitmentLetter,
            EvidenceKind::ProofOfPerformance,
            EvidenceKind::Other,
        ] {
            assert_eq!(EvidenceKind::from_code(kind.code()), Some(kind));
        }
    }
}
