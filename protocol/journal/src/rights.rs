//! Entries of corrections (经手必有责): records of this node that changed,
//! and the corrections sent to every region that had received them.
//!
//! Records appear by [`crate::record_key`] only. A [`RecordsChanged`] entry
//! is written with the change itself (in the record feed's transaction);
//! the correction sweep then writes one [`CorrectionsSent`] per changed
//! record that any region received, naming every recipient the disclosures
//! ledger held at that point — which the auditor checks, with each
//! recipient's signed acknowledgement.

use credex_protocol::RegionCode;
use credex_protocol::lists::{EvidenceKind, Procedure, ProcedureStage};
use credex_protocol::rights::RecordChange;
use serde::{Deserialize, Serialize};

/// Most records one [`RecordsChanged`] entry names (changed and deleted
/// together).
pub const MAX_CHANGED_PER_ENTRY: usize = 2048;

/// Journal body of [`crate::kind::RECORDS_CHANGED`]: records replaced or
/// deleted at their source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsChanged {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Records inserted or replaced (an insert of a record no region
    /// received needs no correction).
    pub replaced: Vec<[u8; 32]>,
    /// Records deleted.
    pub deleted: Vec<[u8; 32]>,
    /// Records whose publication a granted credit repair ended (信用修复):
    /// withdrawn from release like a deletion, and told as `repaired`.
    pub repaired: Vec<[u8; 32]>,
}

impl RecordsChanged {
    /// The entries naming `replaced` and `deleted` (record keys) at
    /// `at_ms`, at most [`MAX_CHANGED_PER_ENTRY`] records each; none for
    /// no records.
    pub fn entries(at_ms: i64, replaced: &[[u8; 32]], deleted: &[[u8; 32]]) -> Vec<RecordsChanged> {
        let all: Vec<([u8; 32], bool)> = replaced
            .iter()
            .map(|k| (*k, false))
            .chain(deleted.iter().map(|k| (*k, true)))
            .collect();
        all.chunks(MAX_CHANGED_PER_ENTRY)
            .map(|part| RecordsChanged {
                version: crate::ENTRY_VERSION,
                at_ms,
                replaced: part.iter().filter(|(_, d)| !d).map(|(k, _)| *k).collect(),
                deleted: part.iter().filter(|(_, d)| *d).map(|(k, _)| *k).collect(),
                repaired: Vec::new(),
            })
            .collect()
    }

    /// The entry naming `repaired` (record keys, at most
    /// [`MAX_CHANGED_PER_ENTRY`]) at `at_ms`.
    pub fn repaired(at_ms: i64, repaired: Vec<[u8; 32]>) -> RecordsChanged {
        RecordsChanged {
            version: crate::ENTRY_VERSION,
            at_ms,
            replaced: Vec::new(),
            deleted: Vec::new(),
            repaired,
        }
    }
}

/// Journal body of [`crate::kind::CORRECTIONS_SENT`]: one changed record's
/// correction, queued to every region that had received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionsSent {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The record.
    pub record: [u8; 32],
    /// How it changed.
    pub change: RecordChange,
    /// The log index of the [`RecordsChanged`] entry it answers.
    pub changed_at_index: u64,
    /// The recipients, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
}

/// Journal body of [`crate::kind::CASE_ROUTED`]: a subject's objection to
/// or repair application for another region's record, sent to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRouted {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Objection or repair.
    pub procedure: Procedure,
    /// The record's owner.
    pub owner: RegionCode,
    /// The record ([`crate::record_key`]).
    pub record: [u8; 32],
    /// SHA-256 of the subject's statement.
    pub statement_digest: [u8; 32],
    /// Each evidence file's kind and SHA-256, in the order sent.
    pub evidence: Vec<(EvidenceKind, [u8; 32])>,
    /// The message id (the case's id).
    pub message_id: [u8; 16],
}

/// Journal body of [`crate::kind::CASE_MARKED`]: a case about one of this
/// node's records opened here (filed at the owner itself) or moved by its
/// officer (accepted, refused, decided), and every region that received the
/// record, and the filer, told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMarked {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Objection or repair.
    pub procedure: Procedure,
    /// The record.
    pub record: [u8; 32],
    /// The case.
    pub case: [u8; 16],
    /// Where it stands now.
    pub stage: ProcedureStage,
    /// SHA-256 of the subject's statement (when filed) or of the officer's
    /// note.
    pub text_digest: [u8; 32],
    /// The regions told, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
}

/// Journal body of [`crate::kind::ACCESS_REPORT_ASKED`]: the subject's
/// home region asked every region for its part of the subject's access
/// report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReportAsked {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The request.
    pub request: [u8; 16],
    /// The subject ([`crate::subject_digest`]).
    pub subject_digest: [u8; 32],
    /// Who asked here (the gateway client or officer).
    pub asked_by: String,
    /// The regions asked, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
}

/// Journal body of [`crate::kind::ACCESS_REPORT_ANSWERED`]: this node sent
/// the region that asked its part of a subject's access report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReportAnswered {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The request.
    pub request: [u8; 16],
    /// The subject ([`crate::subject_digest`]).
    pub subject_digest: [u8; 32],
    /// The region that asked.
    pub to: RegionCode,
    /// SHA-256 of the part sent (its postcard encoding).
    pub part_digest: [u8; 32],
    /// How many accesses and disclosures it named.
    pub lines: (u32, u32),
    /// The message id.
    pub message_id: [u8; 16],
}

crate::frame::fixed_kind! {
    AccessReportAsked => ACCESS_REPORT_ASKED,
    AccessReportAnswered => ACCESS_REPORT_ANSWERED,
    RecordsChanged => RECORDS_CHANGED,
    CorrectionsSent => CORRECTIONS_SENT,
    CaseRouted => CASE_ROUTED,
    CaseMarked => CASE_MARKED,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_split_into_bounded_entries() {
        let replaced: Vec<[u8; 32]> = (0..MAX_CHANGED_PER_ENTRY as u32 + 1)
            .map(|i| {
                let mut k = [0u8; 32];
                k[..4].copy_from_slice(&i.to_be_bytes());
                k
            })
            .collect();
        let entries = RecordsChanged::entries(7, &replaced, &[[9; 32]]);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].replaced.len(), MAX_CHANGED_PER_ENTRY);
        assert_eq!(entries[1].replaced.len(), 1);
        assert_eq!(entries[1].deleted, vec![[9; 32]]);
        assert!(RecordsChanged::entries(7, &[], &[]).is_empty());
    }
}
