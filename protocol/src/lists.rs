//! Joint reward/punishment list messages (联合奖惩名单), docs/design.md §9: the
//! payloads of [`Flow::Lists`](crate::federation::Flow::Lists) envelopes.
//!
//! An entry on the red list, the serious-dishonesty list or the
//! key-attention list is made by one region (its *origin*) and travels
//! initiate → respond → feedback (发起—响应—反馈) to the regions an
//! agreement binds for that list type:
//!
//! | envelope `kind`            | payload            | direction              |
//! |----------------------------|--------------------|------------------------|
//! | [`kind::LISTING`]          | [`ListEntry`]      | origin → member        |
//! | [`kind::FEEDBACK`]         | [`Feedback`]       | member → origin        |
//! | [`kind::CHANGE`]           | [`EntryChange`]    | origin → member        |
//! | [`kind::CHANGE_CONFIRMED`] | [`ChangeConfirmed`]| member → origin        |
//! | [`kind::OBJECTION`]        | [`Objection`]      | member → origin        |
//! | [`kind::PROCEDURE_MARK`]   | [`ProcedureMark`]  | origin → every holder  |
//! | [`kind::REPAIR_APPLICATION`] | [`RepairApplication`] | member → origin   |
//!
//! The federation acknowledgement of a listing is the member's response
//! (响应). This module only defines the values and their bounds
//! ([`ListEntry::validate`] …); whether an agreement binds a region, and
//! whether measures exist and apply to a list type, is decided by the node
//! with `credex-policies`. Enum variant order is wire format: append, never
//! insert.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::RegionCode;
use crate::query::SubjectRef;

mod procedure;

pub use procedure::{
    CaseAbout, Evidence, EvidenceKind, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES, MAX_EVIDENCE_TITLE,
    Objection, Procedure, ProcedureDeadline, ProcedureMark, ProcedureOutcome, ProcedureStage,
    RepairApplication, validate_evidence, validate_progress,
};

/// Envelope kinds of the lists flow.
pub mod kind {
    /// A new entry, origin → member ([`super::ListEntry`]).
    pub const LISTING: u16 = 1;
    /// Measures a member applied, member → origin ([`super::Feedback`]).
    pub const FEEDBACK: u16 = 2;
    /// An exit, repair, revocation or correction, origin → member
    /// ([`super::EntryChange`]).
    pub const CHANGE: u16 = 3;
    /// A member applied a change, member → origin ([`super::ChangeConfirmed`]).
    pub const CHANGE_CONFIRMED: u16 = 4;
    /// A subject's objection routed to the origin, member → origin
    /// ([`super::Objection`]).
    pub const OBJECTION: u16 = 5;
    /// Where an objection or a repair application stands (异议处理中,
    /// 修复审核中, then decided), origin → every region holding the entry
    /// ([`super::ProcedureMark`]).
    pub const PROCEDURE_MARK: u16 = 6;
    /// A subject's application for credit repair routed to the origin,
    /// member → origin ([`super::RepairApplication`]).
    pub const REPAIR_APPLICATION: u16 = 7;
}

/// Longest free text (basis, authority, note, reason), in bytes.
pub const MAX_TEXT: usize = 1024;
/// Most detail fields on one entry.
pub const MAX_DETAILS: usize = 32;
/// Most measures on one entry or one feedback.
pub const MAX_MEASURES: usize = 32;
/// Longest measure code, in bytes.
pub const MAX_MEASURE_CODE: usize = 64;
/// Length of a unified social credit code (统一社会信用代码), in bytes.
pub const USCC_LEN: usize = 18;

/// The id of a list entry: its origin region and 16 random bytes, written
/// `520000-<32 hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryId {
    /// The region that made the entry (认定地区).
    pub origin: RegionCode,
    /// Chosen at random by the origin.
    pub id: [u8; 16],
}

/// Text that is not an [`EntryId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a list entry id (expected REGION-32HEX, e.g. 520000-00ff…)")]
pub struct BadEntryId(pub String);

impl FromStr for EntryId {
    type Err = BadEntryId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadEntryId(s.chars().take(80).collect());
        let (region, hex) = s.split_once('-').ok_or_else(bad)?;
        let origin: RegionCode = region.parse().map_err(|_| bad())?;
        if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(EntryId { origin, id })
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.origin)?;
        for b in self.id {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The list an entry is on (名单类型); the same codes as
/// `credex_policies::ListType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// Index 0. Red list (守信红名单); code `red`.
    Red,
    /// Index 1. Serious dishonesty list (严重失信主体名单); code `serious_dishonesty`.
    SeriousDishonesty,
    /// Index 2. Key-attention list (重点关注名单); code `key_attention`.
    KeyAttention,
}

impl ListKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ListKind::Red => "red",
            ListKind::SeriousDishonesty => "serious_dishonesty",
            ListKind::KeyAttention => "key_attention",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How the subject was told of the listing (主体告知方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeMeans {
    /// Index 0. Written notice served (书面送达).
    Written,
    /// Index 1. Electronic service (电子送达), e.g. through the government service portal.
    Electronic,
    /// Index 2. Public announcement (公告送达) when the subject could not be reached.
    Announcement,
    /// Index 3. Told in person, with a signed record (当面告知).
    InPerson,
}

/// The record that the subject was notified (主体告知).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectNotice {
    /// When, `YYYY-MM-DD`.
    pub date: String,
    /// How.
    pub means: NoticeMeans,
}

/// A list entry as the origin made it (or last corrected it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The entry's id; `id.origin` is the sending region.
    pub id: EntryId,
    /// 0 when made; each change the origin sends increments it.
    pub revision: u32,
    /// Which list.
    pub list_type: ListKind,
    /// The subject: a legal person by its unified social credit code
    /// (public; check digit verified by the node), a natural person by its
    /// keyed pseudonym (never a citizen ID).
    pub subject: SubjectRef,
    /// The basis of the decision (认定依据): the law and the facts.
    pub basis: String,
    /// The deciding authority (认定单位).
    pub authority: String,
    /// When the subject was listed, `YYYY-MM-DD`.
    pub entry_date: String,
    /// When the entry ends unless repaired earlier (有效期届满), `YYYY-MM-DD`,
    /// not before `entry_date`.
    pub planned_exit: String,
    /// Measures from the measures catalogue (联合奖惩措施).
    pub measures: Vec<String>,
    /// The subject was notified.
    pub notice: SubjectNotice,
    /// Further fields of the list's catalogue category (e.g. `facts`,
    /// `document_number`), field code → value text, as far as the egress
    /// gate released them to this recipient under the binding agreement;
    /// at most [`MAX_DETAILS`] fields of at most [`MAX_TEXT`] bytes.
    pub details: std::collections::BTreeMap<String, String>,
}

/// What a member reports it applied (反馈).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The entry.
    pub entry: EntryId,
    /// The measures applied (codes of the measures catalogue).
    pub applied: Vec<String>,
    /// A note for the origin (may be empty).
    pub note: String,
}

/// Why an entry changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Index 0. Credit repair completed (信用修复): the entry ends.
    Repair,
    /// Index 1. An objection upheld, the listing was wrong (异议成立, 撤销): the entry ends.
    Revoke,
    /// Index 2. An objection upheld in part (更正): the entry is replaced by
    /// the corrected one and stays in force.
    Correct,
    /// Index 3. The planned exit date was reached (有效期届满移出): the entry ends.
    Exit,
}

impl ChangeKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::Repair => "repair",
            ChangeKind::Revoke => "revoke",
            ChangeKind::Correct => "correct",
            ChangeKind::Exit => "exit",
        }
    }

    /// Whether the entry ends with this change.
    pub fn ends_entry(self) -> bool {
        self != ChangeKind::Correct
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exit, repair, revocation or correction of an entry, origin → member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryChange {
    /// The entry.
    pub entry: EntryId,
    /// The entry's revision after this change (≥ 1).
    pub revision: u32,
    /// What changed.
    pub change: ChangeKind,
    /// The corrected entry (with this `revision`): present exactly for
    /// [`ChangeKind::Correct`].
    pub corrected: Option<ListEntry>,
    /// Why, for the member's operator (may be empty).
    pub reason: String,
}

/// A member applied a change, member → origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeConfirmed {
    /// The entry.
    pub entry: EntryId,
    /// The revision the member now holds.
    pub revision: u32,
}

/// A bound or format rule a decoded lists message breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListsBoundError {
    /// The subject is not 18 characters of `0-9` and `A-Z`.
    #[error("subject must be an 18-character unified social credit code (0-9, A-Z)")]
    BadSubject,
    /// A required text is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A text is longer than [`MAX_TEXT`].
    #[error("{key} is {len} bytes, at most {MAX_TEXT} allowed")]
    TooLong {
        /// Which field.
        key: &'static str,
        /// Its length.
        len: usize,
    },
    /// A date is not a valid `YYYY-MM-DD` calendar date.
    #[error("{0} is not a valid calendar date YYYY-MM-DD")]
    BadDate(&'static str),
    /// `planned_exit` is before `entry_date`.
    #[error("planned_exit is before entry_date")]
    ExitBeforeEntry,
    /// No measures, or more than [`MAX_MEASURES`], or a code longer than
    /// [`MAX_MEASURE_CODE`].
    #[error(
        "{key} must name 1 to {MAX_MEASURES} measure codes of at most {MAX_MEASURE_CODE} bytes"
    )]
    BadMeasures {
        /// Which field.
        key: &'static str,
    },
    /// A change's revision is 0, a correction carries no corrected entry
    /// (or another change carries one), or the corrected entry is for
    /// another id or revision.
    #[error("inconsistent change: {0}")]
    BadChange(&'static str),
    /// More than [`MAX_DETAILS`] detail fields, an empty or over-long field
    /// code, or a value over [`MAX_TEXT`] bytes.
    #[error(
        "details: at most {MAX_DETAILS} fields, codes of 1 to {MAX_MEASURE_CODE} bytes, values of at most {MAX_TEXT} bytes"
    )]
    BadDetails,
    /// A case is decided with an outcome of the other procedure (an
    /// objection granted, a repair upheld).
    #[error("a {procedure} case cannot be decided {outcome}")]
    OutcomeOfOtherProcedure {
        /// The case's procedure.
        procedure: &'static str,
        /// The outcome given.
        outcome: &'static str,
    },
    /// No evidence, too many files or too many bytes.
    #[error(
        "evidence: {files} file(s) of {bytes} bytes; 1 to {MAX_EVIDENCE_FILES} files of at most {MAX_EVIDENCE_BYTES} bytes in all"
    )]
    BadEvidence {
        /// Files given.
        files: usize,
        /// Bytes given, all files together.
        bytes: usize,
    },
    /// A repair application without a credit commitment letter (信用承诺书).
    #[error("a repair application must carry a commitment letter (信用承诺书)")]
    NoCommitmentLetter,
    /// An evidence title is empty or over [`MAX_EVIDENCE_TITLE`] bytes.
    #[error("evidence {index}: title must be 1 to {MAX_EVIDENCE_TITLE} bytes")]
    BadEvidenceTitle {
        /// Which file (0-based).
        index: usize,
    },
    /// An evidence file is empty or does not match its digest.
    #[error("evidence {index} ({title}): the file does not match its SHA-256 digest")]
    EvidenceDigest {
        /// Which file (0-based).
        index: usize,
        /// Its title.
        title: String,
    },
}

fn date(key: &'static str, s: &str) -> Result<(), ListsBoundError> {
    if crate::evaluation::is_calendar_date(s) {
        Ok(())
    } else {
        Err(ListsBoundError::BadDate(key))
    }
}

pub(crate) fn text(key: &'static str, s: &str, required: bool) -> Result<(), ListsBoundError> {
    if required && s.trim().is_empty() {
        return Err(ListsBoundError::Empty(key));
    }
    if s.len() > MAX_TEXT {
        return Err(ListsBoundError::TooLong { key, len: s.len() });
    }
    Ok(())
}

fn measures(key: &'static str, codes: &[String]) -> Result<(), ListsBoundError> {
    if codes.is_empty()
        || codes.len() > MAX_MEASURES
        || codes
            .iter()
            .any(|c| c.is_empty() || c.len() > MAX_MEASURE_CODE)
    {
        return Err(ListsBoundError::BadMeasures { key });
    }
    Ok(())
}

impl ListEntry {
    /// Check every bound and format rule decoding alone does not. Does not
    /// check the subject's check digit, the measures catalogue or any
    /// agreement.
    pub fn validate(&self) -> Result<(), ListsBoundError> {
        if let SubjectRef::LegalPerson(code) = &self.subject
            && (code.len() != USCC_LEN
                || !code
                    .bytes()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
        {
            return Err(ListsBoundError::BadSubject);
        }
        text("basis", &self.basis, true)?;
        text("authority", &self.authority, true)?;
        if !crate::evaluation::is_calendar_date(&self.entry_date) {
            return Err(ListsBoundError::BadDate("entry_date"));
        }
        if !crate::evaluation::is_calendar_date(&self.planned_exit) {
            return Err(ListsBoundError::BadDate("planned_exit"));
        }
        if !crate::evaluation::is_calendar_date(&self.notice.date) {
            return Err(ListsBoundError::BadDate("notice.date"));
        }
        // Same fixed-width format: byte order is date order.
        if self.planned_exit < self.entry_date {
            return Err(ListsBoundError::ExitBeforeEntry);
        }
        if self.details.len() > MAX_DETAILS
            || self
                .details
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > MAX_MEASURE_CODE || v.len() > MAX_TEXT)
        {
            return Err(ListsBoundError::BadDetails);
        }
        measures("measures", &self.measures)
    }
}

impl Feedback {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), ListsBoundError> {
        text("note", &self.note, false)?;
        measures("applied", &self.applied)
    }
}

impl EntryChange {
    /// Check the bounds decoding alone does not, and that a correction (and
    /// only a correction) carries the corrected entry, for this id and
    /// revision.
    pub fn validate(&self) -> Result<(), ListsBoundError> {
        text("reason", &self.reason, false)?;
        if self.revision == 0 {
            return Err(ListsBoundError::BadChange(
                "revision 0 is the original entry",
            ));
        }
        match (&self.change, &self.corrected) {
            (ChangeKind::Correct, Some(entry)) => {
                if entry.id != self.entry || entry.revision != self.revision {
                    return Err(ListsBoundError::BadChange(
                        "the corrected entry has another id or revision",
                    ));
                }
                entry.validate()
            }
            (ChangeKind::Correct, None) => Err(ListsBoundError::BadChange(
                "a correction must carry the corrected entry",
            )),
            (_, Some(_)) => Err(ListsBoundError::BadChange(
                "only a correction carries an entry",
            )),
            (_, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    fn entry() -> ListEntry {
        ListEntry {
            id: "520000-000102030405060708090a0b0c0d0e0f"
                .parse()
                .expect("id"),
            revision: 0,
            list_type: ListKind::SeriousDishonesty,
            subject: SubjectRef::LegalPerson("91520100MA6DK0BG5X".into()),
            basis: "《失信行为纪律处分办法》第三条".into(),
            authority: "贵州省市场监督管理局".into(),
            entry_date: "2026-11-02".into(),
            planned_exit: "2029-11-01".into(),
            measures: vec!["restrict_government_procurement".into()],
            notice: SubjectNotice {
                date: "2026-10-20".into(),
                means: NoticeMeans::Written,
            },
            details: Default::default(),
        }
    }

    #[test]
    fn entry_id_round_trips_and_rejects_junk() {
        let id: EntryId = "520000-000102030405060708090a0b0c0d0e0f"
            .parse()
            .expect("id");
        assert_eq!(id.origin.to_string(), "520000");
        assert_eq!(id.id[15], 15);
        assert_eq!(id.to_string(), "520000-000102030405060708090a0b0c0d0e0f");
        for bad in [
            "",
            "520000",
            "520000-00",
            "52000-000102030405060708090a0b0c0d0e0f",
            "520000-000102030405060708090a0b0c0d0e0g",
            "520000-000102030405060708090a0b0c0d0e0f00",
        ] {
            assert!(bad.parse::<EntryId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn entry_round_trips_and_bounds() {
        let e = entry();
        assert_eq!(e.validate(), Ok(()));
        let back: ListEntry = decode(&encode(&e).expect("encode")).expect("decode");
        assert_eq!(back, e);
        let mut bad = entry();
        bad.planned_exit = "2026-11-01".into();
        assert_eq!(bad.validate(), Err(ListsBoundError::ExitBeforeEntry));
        let mut bad = entry();
        bad.entry_date = "2026-02-30".into();
        assert_eq!(bad.validate(), Err(ListsBoundError::BadDate("entry_date")));
        let mut bad = entry();
        bad.subject = SubjectRef::LegalPerson("91520100ma6dk0bg5x".into());
        assert_eq!(bad.validate(), Err(ListsBoundError::BadSubject));
        let mut bad = entry();
        bad.measures.clear();
        assert!(matches!(
            bad.validate(),
            Err(ListsBoundError::BadMeasures { .. })
        ));
        let mut bad = entry();
        bad.basis = "x".repeat(MAX_TEXT + 1);
        assert!(matches!(
            bad.validate(),
            Err(ListsBoundError::TooLong { key: "basis", .. })
        ));
    }

    #[test]
    fn a_correction_and_only_a_correction_carries_the_entry() {
        let mut corrected = entry();
        corrected.revision = 1;
        let ok = EntryChange {
            entry: corrected.id,
            revision: 1,
            change: ChangeKind::Correct,
            corrected: Some(corrected.clone()),
            reason: String::new(),
        };
        assert_eq!(ok.validate(), Ok(()));
        let stale = EntryChange {
            revision: 2,
            ..ok.clone()
        };
        assert!(stale.validate().is_err());
        let missing = EntryChange {
            corrected: None,
            ..ok.clone()
        };
        assert!(missing.validate().is_err());
        let repair_with_entry = EntryChange {
            change: ChangeKind::Repair,
            ..ok.clone()
        };
        assert!(repair_with_entry.validate().is_err());
        let zero = EntryChange {
            revision: 0,
            change: ChangeKind::Repair,
            corrected: None,
            ..ok
        };
        assert!(zero.validate().is_err());
    }

    proptest::proptest! {
        /// Whatever a peer sends, decoding and validating never panics.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(e) = decode::<ListEntry>(&bytes) { let _ = e.validate(); }
            if let Ok(c) = decode::<EntryChange>(&bytes) { let _ = c.validate(); }
            if let Ok(f) = decode::<Feedback>(&bytes) { let _ = f.validate(); }
            if let Ok(o) = decode::<Objection>(&bytes) { let _ = o.validate(); }
            if let Ok(m) = decode::<ProcedureMark>(&bytes) { let _ = m.validate(); }
            if let Ok(a) = decode::<RepairApplication>(&bytes) { let _ = a.validate(|_| [0; 32]); }
            let _ = decode::<ChangeConfirmed>(&bytes);
        }
    }

    #[test]
    fn enum_order_is_wire_format() {
        assert_eq!(
            encode(&ListKind::SeriousDishonesty).expect("encode"),
            vec![1]
        );
        assert_eq!(encode(&ChangeKind::Exit).expect("encode"), vec![3]);
        assert_eq!(encode(&NoticeMeans::InPerson).expect("encode"), vec![3]);
    }
}
