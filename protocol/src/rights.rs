//! Subjects' rights (信用主体权益) payloads: what an owning region sends
//! the regions that received one of its records when the record changes,
//! in [`Flow::Rights`](crate::federation::Flow::Rights) envelopes.
//!
//! | envelope `kind`        | payload              | direction                   |
//! |------------------------|----------------------|-----------------------------|
//! | [`kind::CORRECTION`]   | [`RecordCorrection`] | owner → every recipient     |
//! | [`kind::CASE_FILING`]  | [`CaseFiling`]       | filer → owner               |
//! | [`kind::CASE_MARK`]    | [`CaseMark`]         | owner → recipients, filer   |
//! | [`kind::ACCESS_REPORT_REQUEST`] | [`AccessReportRequest`] | home region → every region |
//! | [`kind::ACCESS_REPORT_PART`]    | [`AccessReportPart`]    | every region → home region |
//!
//! A correction names the record by its [`record_key`] only — never its id
//! or content in clear — and says whether it was replaced or deleted. A
//! recipient that kept a copy finds it by computing the key of what it
//! holds, and marks or drops it; the new content is had by asking again,
//! under dual authorization. The federation acknowledgement, signed by the
//! recipient's node, is its confirmation (经手必有责). Enum variant order
//! is wire format: append, never insert.

use serde::{Deserialize, Serialize};

mod access;
mod case;

pub use access::{
    AccessLine, AccessPartError, AccessReportPart, AccessReportRequest, DisclosureLine,
    MAX_PART_ACCESSES, MAX_PART_DISCLOSURES, MAX_PART_TEXT,
};
pub use case::{CaseFiling, CaseMark};

/// Envelope kinds of the rights flow.
pub mod kind {
    /// A record the recipient received changed, owner → recipient
    /// ([`super::RecordCorrection`]).
    pub const CORRECTION: u16 = 1;
    /// A subject's objection to or repair application for a record,
    /// filer → owner ([`super::CaseFiling`]).
    pub const CASE_FILING: u16 = 2;
    /// Where a case about a record stands, owner → every region that
    /// received the record and the filer ([`super::CaseMark`]).
    pub const CASE_MARK: u16 = 3;
    /// The subject's home region asks for a region's part of the subject's
    /// access report ([`super::AccessReportRequest`]).
    pub const ACCESS_REPORT_REQUEST: u16 = 4;
    /// A region's part of a subject's access report, to the home region
    /// ([`super::AccessReportPart`]).
    pub const ACCESS_REPORT_PART: u16 = 5;
}

/// Domain tag of [`record_key`].
const RECORD_KEY_DOMAIN: &[u8] = b"credex/record-key/v1";

/// The key under which a record is named outside its region (in log
/// entries, the disclosures ledger and corrections): SHA-256 over a domain
/// tag, the category and the record id, so no record id is written in clear.
pub fn record_key(category: &str, record_id: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[RECORD_KEY_DOMAIN.len() as u8]);
    ctx.update(RECORD_KEY_DOMAIN);
    ctx.update(category.as_bytes());
    ctx.update(&[0]);
    ctx.update(record_id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// How a record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordChange {
    /// Index 0. Replaced by a corrected version (更正).
    Replaced,
    /// Index 1. Deleted at its source (删除).
    Deleted,
    /// Index 2. Its publication ended early by a granted credit repair
    /// (信用修复, 提前停止公示): the owner no longer releases it, and a
    /// recipient must stop showing its copy as current.
    Repaired,
}

impl RecordChange {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            RecordChange::Replaced => "replaced",
            RecordChange::Deleted => "deleted",
            RecordChange::Repaired => "repaired",
        }
    }
}

/// A record the recipient received from the sender changed (kind
/// [`kind::CORRECTION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCorrection {
    /// The record ([`record_key`]).
    pub record: [u8; 32],
    /// How it changed.
    pub change: RecordChange,
    /// When it changed at the owner, Unix ms.
    pub changed_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_key_separates_category_from_id() {
        assert_ne!(record_key("ab", "c"), record_key("a", "bc"));
        // Reference value, computed independently:
        // python3 -c 'import hashlib;t=b"credex/record-key/v1";
        //   print(hashlib.sha256(bytes([len(t)])+t+b"penalty"+b"\0"+b"R1").hexdigest())'
        let hex: String = record_key("penalty", "R1")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "b6725878894bd201b54597aac59a1b6d585bba900191eb6f6ed5bba1ba0ff087"
        );
    }

    #[test]
    fn a_correction_round_trips() {
        let c = RecordCorrection {
            record: [3; 32],
            change: RecordChange::Deleted,
            changed_at_ms: 7,
        };
        let back: RecordCorrection =
            crate::decode(&crate::encode(&c).expect("encodes")).expect("decodes");
        assert_eq!(back, c);
    }
}
