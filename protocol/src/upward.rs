//! Upward reporting (数据报送) payloads: what a provincial node sends the
//! national platform (region `000000`) in [`Flow::Upward`] envelopes, and
//! the signed receipt the national node returns in the acknowledgement's
//! reply.
//!
//! A province's batches carry consecutive sequence numbers starting at 0;
//! the national node applies a batch only when its number is the next one it
//! expects from that province (exactly once, in order) and answers with a
//! [`SignedBatchReceipt`] over the batch's number, record count and digest.
//! No I/O here; the node's `upward` module drives the channel.
//!
//! [`Flow::Upward`]: crate::federation::Flow::Upward

use serde::{Deserialize, Serialize};

use crate::ids::{NodeName, RegionCode};
use crate::lists::{CaseAbout, Procedure, ProcedureDeadline};
use crate::query::SignerProof;

/// Envelope `kind` of an [`UpwardBatch`].
pub const KIND_BATCH: u16 = 1;
/// Envelope `kind` of an [`ProcedureOverdueNotice`].
pub const KIND_PROCEDURE_OVERDUE: u16 = 2;
/// Domain tag of the national node's signature over a [`BatchReceipt`].
pub const DOMAIN_UPWARD_RECEIPT: &[u8] = b"credex/upward-receipt/v1";
/// Domain tag of the digest of a batch's records ([`records_digest`]).
pub const DOMAIN_UPWARD_RECORDS: &[u8] = b"credex/upward-records/v1";
/// Most records in one batch.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Longest category or record id, in bytes (the node's storage bound).
pub const MAX_KEY_LEN: usize = 256;
/// Longest record id, in bytes: the national node stores it as
/// `REGION:record_id` within [`MAX_KEY_LEN`].
pub const MAX_RECORD_ID_LEN: usize = MAX_KEY_LEN - 7;
/// Largest record body, in bytes.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// One credit record reported upward, as the province stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedRecord {
    /// Catalogue category (信用信息目录类别).
    pub category: String,
    /// The record's id within its category in the reporting region.
    pub record_id: String,
    /// The subject key as the province derives it (a unified social credit
    /// code, or the digest of a citizen ID — never a clear citizen ID).
    pub subject_key: String,
    /// The record (an encoded `credex_policies::Record`), as one byte
    /// string (the same wire bytes as a sequence of `u8`).
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// When the province imported it, Unix ms.
    pub imported_at_ms: i64,
}

/// A batch of records (kind [`KIND_BATCH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpwardBatch {
    /// The batch's number in the province's sequence (0, 1, 2 …).
    pub seq: u64,
    /// The records, at most [`MAX_BATCH_RECORDS`].
    pub records: Vec<ReportedRecord>,
}

/// A region tells the national platform that an objection or a repair
/// application its subject filed there (异议, 信用修复) passed a deadline at
/// the region that decides it — a list entry's origin, a record's owner
/// (kind [`KIND_PROCEDURE_OVERDUE`]): no record field, no subject — what
/// the case is about, the case, which deadline and its day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureOverdueNotice {
    /// Objection or repair.
    pub procedure: Procedure,
    /// What the case is about (its decider is the region late).
    pub about: CaseAbout,
    /// The case (the message id that filed it).
    pub case: [u8; 16],
    /// The region the subject filed it in (the sender).
    pub filed_in: RegionCode,
    /// The deadline missed.
    pub missed: ProcedureDeadline,
    /// Its last day (China time, `YYYY-MM-DD`).
    pub deadline: String,
}

impl ProcedureOverdueNotice {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), NoticeBoundError> {
        if !crate::evaluation::is_calendar_date(&self.deadline) {
            return Err(NoticeBoundError::DeadlineNotADate(self.deadline.clone()));
        }
        if self.about.decider() == self.filed_in {
            return Err(NoticeBoundError::FiledWithTheDecider);
        }
        Ok(())
    }
}

/// A rule a decoded [`ProcedureOverdueNotice`] breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeBoundError {
    /// The deadline is not a `YYYY-MM-DD` calendar date.
    #[error("deadline {0:?} is not a calendar date")]
    DeadlineNotADate(String),
    /// The notice names the deciding region as the one the case was filed
    /// in: a case is filed in a region other than the one that decides it.
    #[error("a case is filed in a region other than the one that decides it")]
    FiledWithTheDecider,
}

/// What the national node acknowledges of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    /// The reporting region.
    pub reporting_region: RegionCode,
    /// The batch's number.
    pub seq: u64,
    /// How many records the national node stored.
    pub record_count: u32,
    /// [`records_digest`] of the records as received.
    pub records_digest: [u8; 32],
    /// The national node that stored them.
    pub national_node: NodeName,
    /// When they were stored, Unix ms (the reported date of 双公示
    /// timeliness).
    pub received_at_ms: i64,
}

/// A [`BatchReceipt`] signed by the national node over
/// [`DOMAIN_UPWARD_RECEIPT`] ‖ encode(receipt); the acknowledgement's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBatchReceipt {
    /// The receipt.
    pub receipt: BatchReceipt,
    /// The national node's signature and certificate chain.
    pub signer: SignerProof,
}

/// A bound a decoded batch breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpwardBoundError {
    /// More than [`MAX_BATCH_RECORDS`] records.
    #[error("batch of {0} records, at most {MAX_BATCH_RECORDS} allowed")]
    TooManyRecords(usize),
    /// A batch with no record.
    #[error("empty batch")]
    Empty,
    /// A category, record id or subject key empty or too long
    /// ([`MAX_KEY_LEN`], [`MAX_RECORD_ID_LEN`]).
    #[error("record {index}: {what} is empty or too long")]
    BadKey {
        /// The record's index in the batch.
        index: usize,
        /// Which key.
        what: &'static str,
    },
    /// A body over [`MAX_BODY_LEN`].
    #[error("record {0}: body over {MAX_BODY_LEN} bytes")]
    BodyTooLarge(usize),
    /// The same (category, record id) twice in one batch.
    #[error("record {0}: the same category and record id appear twice in the batch")]
    Duplicate(usize),
}

impl UpwardBatch {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), UpwardBoundError> {
        if self.records.is_empty() {
            return Err(UpwardBoundError::Empty);
        }
        if self.records.len() > MAX_BATCH_RECORDS {
            return Err(UpwardBoundError::TooManyRecords(self.records.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for (index, r) in self.records.iter().enumerate() {
            for (what, v, max) in [
                ("category", &r.category, MAX_KEY_LEN),
                ("record id", &r.record_id, MAX_RECORD_ID_LEN),
                ("subject key", &r.subject_key, MAX_KEY_LEN),
            ] {
                if v.is_empty() || v.len() > max {
                    return Err(UpwardBoundError::BadKey { index, what });
                }
            }
            if r.body.len() > MAX_BODY_LEN {
                return Err(UpwardBoundError::BodyTooLarge(index));
            }
            if !seen.insert((r.category.as_str(), r.record_id.as_str())) {
                return Err(UpwardBoundError::Duplicate(index));
            }
        }
        Ok(())
    }
}

/// SHA-256 over [`DOMAIN_UPWARD_RECORDS`] ‖ encode(records): what the
/// receipt binds.
pub fn records_digest(records: &[ReportedRecord]) -> Result<[u8; 32], crate::FrameError> {
    let bytes = crate::encode(&records)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(DOMAIN_UPWARD_RECORDS);
    ctx.update(&bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    fn record(id: &str) -> ReportedRecord {
        ReportedRecord {
            category: "admin_penalty".into(),
            record_id: id.into(),
            subject_key: "91520000MA6DKXXXXX".into(),
            body: vec![1, 2, 3],
            imported_at_ms: 5,
        }
    }

    #[test]
    fn round_trips_and_bounds() {
        let b = UpwardBatch {
            seq: 3,
            records: vec![record("a"), record("b")],
        };
        let back: UpwardBatch = decode(&encode(&b).expect("encode")).expect("decode");
        assert_eq!(back, b);
        assert!(b.validate().is_ok());
        let dup = UpwardBatch {
            seq: 0,
            records: vec![record("a"), record("a")],
        };
        assert_eq!(dup.validate(), Err(UpwardBoundError::Duplicate(1)));
        let empty = UpwardBatch {
            seq: 0,
            records: vec![],
        };
        assert_eq!(empty.validate(), Err(UpwardBoundError::Empty));
        let long = UpwardBatch {
            seq: 0,
            records: vec![record(&"x".repeat(MAX_KEY_LEN + 1))],
        };
        assert!(matches!(
            long.validate(),
            Err(UpwardBoundError::BadKey { index: 0, .. })
        ));
    }

    #[test]
    fn digest_binds_the_records() {
        let a = records_digest(&[record("a")]).expect("digest");
        let b = records_digest(&[record("b")]).expect("digest");
        assert_ne!(a, b);
        assert_eq!(a, records_digest(&[record("a")]).expect("digest"));
    }

    #[test]
    fn an_overdue_notice_names_a_date_and_a_region_other_than_the_decider() {
        let owner: RegionCode = "440000".parse().expect("region");
        let mut notice = ProcedureOverdueNotice {
            procedure: Procedure::Objection,
            about: CaseAbout::Record {
                owner,
                record: [3; 32],
            },
            case: [1; 16],
            filed_in: "520000".parse().expect("region"),
            missed: ProcedureDeadline::Acceptance,
            deadline: "2026-12-04".into(),
        };
        assert_eq!(notice.validate(), Ok(()));
        notice.deadline = "2026-02-30".into();
        assert_eq!(
            notice.validate(),
            Err(NoticeBoundError::DeadlineNotADate("2026-02-30".into()))
        );
        notice.deadline = "2026-12-04".into();
        notice.filed_in = owner;
        assert_eq!(
            notice.validate(),
            Err(NoticeBoundError::FiledWithTheDecider)
        );
    }
}
