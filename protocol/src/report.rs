//! Signed credit reports (信用报告): what a node says about a subject, for a
//! purpose, from what it holds and what it recognised — signed by the node,
//! with the policy hash it released under, and carried with an offline proof
//! that its issuance is in the node's log (a C2SP `tlog-proof`, see
//! [`crate::tlog::TlogProof`]). Another region verifies it offline and
//! accepts it under an agreement (信用报告互认).
//!
//! The sections follow the public credit information report standards
//! (公共信用信息报告标准, 2021 general report; 2022 special report replacing
//! certificates of no violation, 专项信用报告): one section per catalogue
//! category the report covers, each with the items held and the source
//! region; a category covered with no item states that the issuer holds no
//! record of it (无相关记录) — the special report's "no violation" finding.
//!
//! This module only defines the values and their bounds; issuing is the
//! node's (`credex_node::reports`), verifying the auditor's
//! (`credex_audit::report`). Enum variant order is wire format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{NodeName, RegionCode};
use crate::query::{SignerProof, SubjectRef};

/// Domain separation tag of a report signature.
pub const DOMAIN_REPORT: &[u8] = b"credex/credit-report/v1";
/// The report format version this code writes and reads.
pub const REPORT_VERSION: u8 = 1;
/// Most sections in one report.
pub const MAX_SECTIONS: usize = 64;
/// Most items in one section.
pub const MAX_ITEMS: usize = 1000;
/// Most fields in one item.
pub const MAX_ITEM_FIELDS: usize = 64;
/// Longest text (a code, a field value, a mark), in bytes.
pub const MAX_REPORT_TEXT: usize = 1024;
/// Most withheld fields named.
pub const MAX_WITHHELD: usize = 1024;

/// Which report (报告类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Index 0. The general public credit report (公共信用信息报告).
    General,
    /// Index 1. The special report that replaces certificates of no
    /// violation (专项信用报告, 有无违法违规记录): per covered category, the
    /// records held or none.
    NoViolation,
}

impl ReportKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ReportKind::General => "general",
            ReportKind::NoViolation => "no_violation",
        }
    }

    /// The Chinese title.
    pub fn title_zh(self) -> &'static str {
        match self {
            ReportKind::General => "公共信用信息报告",
            ReportKind::NoViolation => "专项信用报告（有无违法违规记录）",
        }
    }

    /// The kind of a [`ReportKind::code`].
    pub fn from_code(code: &str) -> Option<ReportKind> {
        [ReportKind::General, ReportKind::NoViolation]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// A credit report, as signed by its issuing node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReport {
    /// [`REPORT_VERSION`].
    pub version: u8,
    /// Unique per issuer.
    pub id: [u8; 16],
    /// General or no-violation.
    pub kind: ReportKind,
    /// The issuing region.
    pub issuer: RegionCode,
    /// The issuing node (its certificate signs the report and its log).
    pub issuer_node: NodeName,
    /// The subject: a legal person by its unified social credit code.
    pub subject: SubjectRef,
    /// The purpose code it was issued for (a check purpose).
    pub purpose: String,
    /// When it was issued, Unix ms.
    pub issued_at_ms: i64,
    /// The last day it may be relied on (China time, `YYYY-MM-DD`).
    pub valid_until: String,
    /// The hash of the policy set the content was released under.
    pub policy_hash: [u8; 32],
    /// The catalogue categories the report covers, each stated either by a
    /// section or as holding nothing.
    pub covered: Vec<String>,
    /// The content, one section per category with items.
    pub sections: Vec<ReportSection>,
    /// `category.field` the policy withheld for the purpose.
    pub withheld: Vec<String>,
}

/// What the report says of one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSection {
    /// The catalogue category (e.g. `admin_penalty`, `serious_dishonesty`,
    /// `public_credit` for an evaluation scheme).
    pub category: String,
    /// The items.
    pub items: Vec<ReportItem>,
}

/// One record, list entry or evaluation result in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportItem {
    /// Its id (a record id, an entry id, a scheme and version).
    pub id: String,
    /// The region it comes from: the issuer's own, or the region whose
    /// entry or evaluation the issuer holds or recognised.
    pub source: RegionCode,
    /// Field code → value, released fields only.
    pub fields: BTreeMap<String, String>,
    /// Standing marks, e.g. `under_objection` (异议处理中),
    /// `under_repair_review` (信用修复审核中), `recognised` (互认).
    pub marks: Vec<String>,
}

/// A report with its issuing node's signature over [`DOMAIN_REPORT`] ‖
/// encode(report) and the node's certificate chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCreditReport {
    /// The report.
    pub report: CreditReport,
    /// The node's signature and chain.
    pub signer: SignerProof,
}

/// What a report file carries in its tlog proof's `extra` line: the signed
/// report and the log entry (header and body, the leaf's bytes) that
/// records its issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportBundle {
    /// The signed report.
    pub signed: SignedCreditReport,
    /// The issuing node's `report_issued` log entry.
    #[serde(with = "serde_bytes")]
    pub entry: Vec<u8>,
}

/// A bound or format rule a decoded report breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportBoundError {
    /// Another format version.
    #[error("report version {0}, this node reads version {REPORT_VERSION}")]
    Version(u8),
    /// `valid_until` is not a calendar date.
    #[error("valid_until {0:?} is not a calendar date YYYY-MM-DD")]
    BadDate(String),
    /// A natural person: reports name legal persons only for now.
    #[error("a report names a legal person by its unified social credit code")]
    NotLegalPerson,
    /// Too many sections, items, fields or withheld names, or a text over
    /// [`MAX_REPORT_TEXT`] bytes.
    #[error("{0}: over its bound")]
    TooLarge(&'static str),
    /// A section's category is not among `covered`, or appears twice.
    #[error("section {0:?} is not a covered category, or appears twice")]
    Uncovered(String),
}

impl CreditReport {
    /// Check every bound and format rule decoding alone does not.
    pub fn validate(&self) -> Result<(), ReportBoundError> {
        if self.version != REPORT_VERSION {
            return Err(ReportBoundError::Version(self.version));
        }
        if !crate::evaluation::is_calendar_date(&self.valid_until) {
            return Err(ReportBoundError::BadDate(self.valid_until.clone()));
        }
        if !matches!(self.subject, SubjectRef::LegalPerson(_)) {
            return Err(ReportBoundError::NotLegalPerson);
        }
        let long = |s: &str| s.is_empty() || s.len() > MAX_REPORT_TEXT;
        if long(&self.purpose) {
            return Err(ReportBoundError::TooLarge("purpose"));
        }
        if self.sections.len() > MAX_SECTIONS || self.covered.len() > MAX_SECTIONS {
            return Err(ReportBoundError::TooLarge("sections"));
        }
        if self.withheld.len() > MAX_WITHHELD || self.withheld.iter().any(|w| long(w)) {
            return Err(ReportBoundError::TooLarge("withheld"));
        }
        if self.covered.iter().any(|c| long(c)) {
            return Err(ReportBoundError::TooLarge("covered"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.sections {
            if !self.covered.contains(&s.category) || !seen.insert(&s.category) {
                return Err(ReportBoundError::Uncovered(s.category.clone()));
            }
            if s.items.len() > MAX_ITEMS {
                return Err(ReportBoundError::TooLarge("items"));
            }
            for i in &s.items {
                if long(&i.id)
                    || i.fields.len() > MAX_ITEM_FIELDS
                    || i.fields
                        .iter()
                        .any(|(k, v)| long(k) || v.len() > MAX_REPORT_TEXT)
                    || i.marks.len() > MAX_ITEM_FIELDS
                    || i.marks.iter().any(|m| long(m))
                {
                    return Err(ReportBoundError::TooLarge("item"));
                }
            }
        }
        Ok(())
    }

    /// The categories covered with no item: what the report states the
    /// issuer holds nothing of (无相关记录).
    pub fn nothing_held(&self) -> Vec<&str> {
        self.covered
            .iter()
            .filter(|c| {
                !self
                    .sections
                    .iter()
                    .any(|s| &s.category == *c && !s.items.is_empty())
            })
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    fn report() -> CreditReport {
        CreditReport {
            version: REPORT_VERSION,
            id: [1; 16],
            kind: ReportKind::NoViolation,
            issuer: "520000".parse().expect("region"),
            issuer_node: "gy-1".parse().expect("name"),
            subject: SubjectRef::LegalPerson("91520100MA6DK0BG5X".into()),
            purpose: "administrative_approval".into(),
            issued_at_ms: 1_764_800_000_000,
            valid_until: "2027-03-04".into(),
            policy_hash: [2; 32],
            covered: vec!["admin_penalty".into(), "serious_dishonesty".into()],
            sections: vec![ReportSection {
                category: "admin_penalty".into(),
                items: vec![ReportItem {
                    id: "520000-AP-0001".into(),
                    source: "520000".parse().expect("region"),
                    fields: [("penalty_type".to_owned(), "罚款".to_owned())].into(),
                    marks: Vec::new(),
                }],
            }],
            withheld: vec!["admin_penalty.case_notes".into()],
        }
    }

    #[test]
    fn a_report_round_trips_and_says_what_it_holds_nothing_of() {
        let r = report();
        assert_eq!(r.validate(), Ok(()));
        let back: CreditReport = decode(&encode(&r).expect("encodes")).expect("decodes");
        assert_eq!(back, r);
        assert_eq!(r.nothing_held(), ["serious_dishonesty"]);
        assert_eq!(
            ReportKind::from_code("no_violation"),
            Some(ReportKind::NoViolation)
        );
    }

    #[test]
    fn bounds_are_checked() {
        let mut r = report();
        r.sections[0].category = "tax".into();
        assert_eq!(r.validate(), Err(ReportBoundError::Uncovered("tax".into())));
        let mut r = report();
        r.valid_until = "2027-02-30".into();
        assert!(matches!(r.validate(), Err(ReportBoundError::BadDate(_))));
        let mut r = report();
        r.version = 2;
        assert_eq!(r.validate(), Err(ReportBoundError::Version(2)));
        let mut r = report();
        r.sections[0].items[0]
            .fields
            .insert("x".into(), "长".repeat(400));
        assert_eq!(r.validate(), Err(ReportBoundError::TooLarge("item")));
    }
}
