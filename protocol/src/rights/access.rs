//! The federated subject access report (谁查询了我的信息, gathered across
//! regions): the subject's home region asks every region for its part
//! ([`AccessReportRequest`]), and each answers with what its own log
//! records about the subject ([`AccessReportPart`]) — the accesses to the
//! subject it logged and the regions that received the subject's records
//! from it. The home region puts the parts together and names the regions
//! that have not answered.
//!
//! A part names records by their key ([`super::record_key`]), never by id,
//! and carries no record field: who accessed, when, why, which fields.

use serde::{Deserialize, Serialize};

use crate::ids::RegionCode;
use crate::query::SubjectRef;

/// Most accesses one part carries; a region with more says so
/// ([`AccessReportPart::truncated`]) and the subject asks it directly.
pub const MAX_PART_ACCESSES: usize = 2_000;
/// Most record disclosures one part carries.
pub const MAX_PART_DISCLOSURES: usize = 2_000;
/// Longest text field of a part line, in bytes.
pub const MAX_PART_TEXT: usize = 256;
/// Most released fields one access line names.
pub const MAX_LINE_FIELDS: usize = 256;

/// The subject's home region asks for a region's part of the subject's
/// access report (kind [`super::kind::ACCESS_REPORT_REQUEST`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReportRequest {
    /// The request (the same id in every region's request and part).
    pub request: [u8; 16],
    /// Whose accesses.
    pub subject: SubjectRef,
}

/// One access to the subject a region's log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLine {
    /// The entry's index in the answering region's log (an auditor can
    /// prove it there).
    pub log_index: u64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// `query`, `credit_check` or `credit_report`.
    pub kind: String,
    /// Who: `REGION/NODE` for a query, the system for a check or report.
    pub by: String,
    /// The accountable officers.
    pub officers: Vec<String>,
    /// The purpose code.
    pub purpose: String,
    /// A query's outcome, or a report's kind.
    pub outcome: Option<String>,
    /// The fields released, `category.field`.
    pub released: Vec<String>,
}

/// One of the subject's records at the answering region, and a region that
/// received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureLine {
    /// The record's category.
    pub category: String,
    /// The record ([`super::record_key`]).
    pub record: [u8; 32],
    /// The region that received it.
    pub recipient: RegionCode,
    /// How: `query`, `upward`, `list-push`.
    pub channel: String,
    /// When it last did, Unix ms.
    pub last_at_ms: i64,
}

/// A region's part of the subject's access report (kind
/// [`super::kind::ACCESS_REPORT_PART`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReportPart {
    /// The request it answers.
    pub request: [u8; 16],
    /// The answering region's log size when the part was made.
    pub log_size: u64,
    /// The accesses, oldest first.
    pub accesses: Vec<AccessLine>,
    /// The disclosures of the subject's records held there.
    pub disclosures: Vec<DisclosureLine>,
    /// More accesses or disclosures than one part carries were found.
    pub truncated: bool,
}

/// A bound a decoded part breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessPartError {
    /// Too many lines.
    #[error("{what}: {len} lines, at most {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// How many.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A text too long.
    #[error("access line {index}: a text of {len} bytes, at most {MAX_PART_TEXT}")]
    TooLong {
        /// The line.
        index: usize,
        /// Its length.
        len: usize,
    },
}

impl AccessReportPart {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), AccessPartError> {
        let too_many = |what, len, max| {
            if len > max {
                Err(AccessPartError::TooMany { what, len, max })
            } else {
                Ok(())
            }
        };
        too_many("accesses", self.accesses.len(), MAX_PART_ACCESSES)?;
        too_many("disclosures", self.disclosures.len(), MAX_PART_DISCLOSURES)?;
        for (index, a) in self.accesses.iter().enumerate() {
            too_many("released fields", a.released.len(), MAX_LINE_FIELDS)?;
            too_many("officers", a.officers.len(), 4)?;
            let texts = [&a.kind, &a.by, &a.purpose]
                .into_iter()
                .chain(a.outcome.iter())
                .chain(a.officers.iter())
                .chain(a.released.iter());
            for t in texts {
                if t.len() > MAX_PART_TEXT {
                    return Err(AccessPartError::TooLong {
                        index,
                        len: t.len(),
                    });
                }
            }
        }
        for (index, d) in self.disclosures.iter().enumerate() {
            if d.category.len() > MAX_PART_TEXT || d.channel.len() > MAX_PART_TEXT {
                return Err(AccessPartError::TooLong {
                    index,
                    len: d.category.len().max(d.channel.len()),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_round_trips_and_is_bounded() {
        let line = AccessLine {
            log_index: 7,
            at_ms: 1,
            kind: "query".into(),
            by: "440000/gz-1".into(),
            officers: vec!["张三".into(), "李四".into()],
            purpose: "public_procurement".into(),
            outcome: Some("granted".into()),
            released: vec!["admin_penalty.amount".into()],
        };
        let part = AccessReportPart {
            request: [1; 16],
            log_size: 9,
            accesses: vec![line.clone()],
            disclosures: Vec::new(),
            truncated: false,
        };
        assert_eq!(part.validate(), Ok(()));
        let back: AccessReportPart =
            crate::decode(&crate::encode(&part).expect("encodes")).expect("decodes");
        assert_eq!(back, part);
        let mut long = part.clone();
        long.accesses[0].by = "x".repeat(MAX_PART_TEXT + 1);
        assert!(matches!(
            long.validate(),
            Err(AccessPartError::TooLong { index: 0, .. })
        ));
        let mut many = part;
        many.accesses = vec![line; MAX_PART_ACCESSES + 1];
        assert!(matches!(
            many.validate(),
            Err(AccessPartError::TooMany { .. })
        ));
    }
}
