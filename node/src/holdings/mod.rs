//! What this node holds about subjects — local records, recognised
//! evaluations, list entries in force here and the cases pending against
//! them — read together and projected through a release decision
//! ([`CheckRelease`](credex_policies::check_release::CheckRelease)). The
//! gateway's credit checks and the signed credit reports both answer from
//! it; neither owns it.
//!
//! The parts: [`answers`] (the read, `read`) and the answer types
//! (`answer`).

mod answer;
mod read;

pub use answer::{
    CaseAnswer, EvaluationAnswer, ListAnswer, MeasureAnswer, RecordAnswer, SubjectAnswer,
};
pub use read::{HoldingsError, answers};

use credex_policies::SubjectKind;
use credex_protocol::query::{SubjectPseudonym, SubjectRef};

/// A subject as a check reads and logs it.
#[derive(Debug, Clone)]
pub struct CheckedSubject {
    /// What the answer shows: the USCC, or the masked citizen ID.
    pub shown: String,
    /// Legal or natural person.
    pub kind: SubjectKind,
    /// A natural person's current-epoch pseudonym.
    pub pseudonym: Option<SubjectPseudonym>,
    /// The key its local records are stored under.
    pub record_key: String,
    /// How journal entries name it (digested).
    pub digest_ref: SubjectRef,
    /// The keys list entries may name it by (a person: every epoch).
    pub list_keys: Vec<String>,
}
