//! credex-policies: the credit information catalogue (信用信息目录), subject
//! identifiers, agreement groups, sharing policies (共享策略) and their pure
//! evaluation; mutual-recognition agreements (信用评价结果互认协议), the joint
//! reward/punishment measures catalogue (联合奖惩措施清单), the upward
//! reporting list (数据报送清单) and the working-day calendar.
//!
//! What this crate does:
//! - loads and validates the catalogue of credit information categories and
//!   fields, each field with a sensitivity class ([`catalogue`]);
//! - validates subject identifiers: the unified social credit code
//!   (统一社会信用代码, GB 32100-2015) and the citizen identity number
//!   (公民身份号码, GB 11643-1999), masking the latter wherever it is
//!   displayed ([`subject_id`]);
//! - loads cooperation-agreement groups such as the Pan-Pearl River group
//!   ([`groups`]) and a node's declarative sharing policy, refusing bad files
//!   with the file, the line and the reason, and hashing the parsed policy
//!   canonically ([`policy`]);
//! - decides, as a pure function of (request, policy set, time, quota usage),
//!   which requested fields may be released and why ([`evaluate()`]), and
//!   projects a record onto exactly the permitted fields;
//! - loads mutual-recognition agreements (members, schemes, grade scales and
//!   their mappings, maximum ages, treatments, joint reward/punishment terms)
//!   and decides whether a region recognises another's evaluation result
//!   ([`agreement`], [`recognise()`]);
//! - loads the measures catalogue and checks the measures a list entry
//!   carries against its list type ([`measures`]);
//! - holds the egress gate (出口闸): every federation message body that
//!   carries subject data is made by [`egress`] under the rule for its
//!   recipient (reporting catalogue or agreement), as a
//!   [`ReleasedBody`](egress::ReleasedBody) only it can build;
//! - loads the upward reporting list and a holiday calendar, and counts
//!   working-day deadlines such as double publicity's 7 working days
//!   ([`reporting`]).
//!
//! What it does not do: no network I/O, no clock, no randomness, no storage.
//! The only file I/O is the convenience `load_file` / `with_file` /
//! `load_supplement_file` functions, which read a file and hand its text to
//! the matching `parse` function; the current time is always passed in. It
//! does not check signatures or certificates: the subject's authorization
//! reaches [`evaluate()`], and an evaluation attestation reaches
//! [`recognise()`], already verified by the caller (`credex-pki` / the node),
//! and quota counters are kept by the node and passed in as [`QuotaUsage`].
//! The node and the offline auditor run the same [`evaluate()`] and
//! [`recognise()`].

#![forbid(unsafe_code)]

pub mod agreement;
mod canonical;
pub mod catalogue;
pub mod check_release;
pub mod consent;
pub mod egress;
pub mod evaluate;
pub mod groups;
pub mod measures;
pub mod policy;
pub mod repair;
pub mod reporting;
pub mod source;
pub mod subject_id;

pub use agreement::{
    Agreement, AgreementError, AgreementErrorKind, AgreementSet, JointTerms, MemberScale,
    NotMonotone, NotRecognisedReason, RecognitionDecision, SchemeTerms, Treatment, recognise,
};
pub use catalogue::{
    Catalogue, CatalogueError, CatalogueErrorKind, Category, Field, FieldType, FieldValue, Record,
    SensitivityClass, SubjectKind, ValueError,
};
pub use consent::{ConsentAuthority, ConsentSource};
pub use evaluate::{
    AccessRequest, AuthorizationScope, Outcome, QuotaUsage, ReasonCode, ReleaseDecision,
    WithheldField, evaluate,
};
pub use groups::{AgreementGroup, AgreementGroups, GroupsError, GroupsErrorKind};
pub use measures::{
    ListType, Measure, MeasureError, MeasureKind, MeasuresCatalogue, MeasuresError,
    MeasuresErrorKind, UnknownListType,
};
pub use policy::{
    AuthorizationRequirement, Contradiction, LegalBasis, Peers, PolicyError, PolicyErrorKind,
    PolicySet, Purpose, Quota, Rule,
};
pub use reporting::{
    CalendarError, CalendarErrorKind, Deadline, HolidayCalendar, ReportingError,
    ReportingErrorKind, ReportingItem, ReportingList, Timeliness,
};
pub use source::{LoadError, Location};
pub use subject_id::{
    BatchReport, CitizenId, InvalidIdentifier, RegistrationAuthority, SubjectId, SubjectIdError,
    Uscc, UsccDivision, check_batch,
};
