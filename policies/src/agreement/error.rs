//! Why an agreement file failed to load: one [`AgreementErrorKind`] variant
//! per load-time rule, each naming the agreement, scheme, member and grade;
//! the file and line come from [`LoadError`].
//!
//! Owns: the error types. Does not own the checks that raise them
//! ([`super::parse`], [`super::scheme`]).

use credex_protocol::RegionCode;
use credex_protocol::evaluation::{MAX_GRADE_LEN, MAX_SCHEME_VERSION_LEN, Scheme};

use super::parse::MAX_JOINT_DAYS;
use super::scheme::MAX_AGE_DAYS;
use crate::source::LoadError;

/// Why an agreement file failed to load.
pub type AgreementError = LoadError<AgreementErrorKind>;

/// The reason an agreement file failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementErrorKind {
    /// The file could not be read.
    #[error("cannot read agreement file: {0}")]
    Read(String),
    /// Not valid TOML, an unknown key, a missing key, a wrong type, an
    /// unknown scheme or list type, or an invalid region code; the message is
    /// the parser's.
    #[error("{0}")]
    Toml(String),
    /// The agreement code is not a slug.
    #[error("agreement code {0:?} must be a-z, 0-9, '-' and '_', at most 64 bytes")]
    BadCode(String),
    /// Two agreements with the same code in one set, and the earlier one is
    /// not an example that the later one replaces.
    #[error("agreement {0:?} is already loaded (only an example agreement may be replaced)")]
    DuplicateAgreement(String),
    /// An agreement with fewer than two members.
    #[error("agreement {0:?} needs at least two member regions")]
    TooFewMembers(String),
    /// A member listed twice.
    #[error("agreement {agreement:?} lists member {region} twice")]
    DuplicateMember {
        /// The agreement code.
        agreement: String,
        /// The region.
        region: RegionCode,
    },
    /// The national platform listed as a member.
    #[error(
        "agreement {0:?} lists 000000; the national platform is not a party to regional agreements"
    )]
    NationalMember(String),
    /// `example = true` without a `note` saying what must replace the tables.
    #[error("agreement {0:?} is marked example = true but has no note")]
    ExampleWithoutNote(String),
    /// Neither a scheme nor a joint nor a reports section: the agreement
    /// does nothing.
    #[error("agreement {0:?} recognises no scheme and has no [joint] or [reports] section")]
    Empty(String),
    /// A scheme listed twice.
    #[error("agreement {agreement:?}: scheme {scheme} is listed twice")]
    DuplicateScheme {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
    },
    /// A scheme without accepted versions, or a version empty, too long or repeated.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: versions must list 1 to {MAX_SCHEME_VERSION_LEN}-byte versions, each once"
    )]
    BadVersions {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
    },
    /// `max_age_days` is 0 or more than ten years.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: max_age_days must be 1 to {MAX_AGE_DAYS}, got {days}"
    )]
    BadMaxAge {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The value.
        days: u32,
    },
    /// The common scale is empty.
    #[error("agreement {agreement:?}, scheme {scheme}: common_scale must not be empty")]
    EmptyCommonScale {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
    },
    /// A grade that is empty, longer than 32 bytes or padded with spaces.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: grade {grade:?} must be 1 to {MAX_GRADE_LEN} bytes without surrounding spaces"
    )]
    BadGrade {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The grade.
        grade: String,
    },
    /// A grade twice in the common scale.
    #[error("agreement {agreement:?}, scheme {scheme}: common grade {grade:?} listed twice")]
    DuplicateCommonGrade {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The grade.
        grade: String,
    },
    /// A scheme without any member table: nothing maps to the common scale.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: no [[scheme.member]] mapping; every member needs its scale and mappings"
    )]
    NoMapping {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
    },
    /// A member with no scale (no `[[scheme.member]]` table) for a scheme.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: member {member} has no scale ([[scheme.member]] region = \"{member}\")"
    )]
    MemberWithoutScale {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
    },
    /// A member table for a region that is not a member.
    #[error("agreement {agreement:?}, scheme {scheme}: region {region} is not a member")]
    NotAMember {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The region.
        region: RegionCode,
    },
    /// Two tables for one member.
    #[error("agreement {agreement:?}, scheme {scheme}: member {member} has two scales")]
    DuplicateMemberScale {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
    },
    /// A member's scale is empty or lists a grade twice.
    #[error(
        "agreement {agreement:?}, scheme {scheme}, member {member}: scale must be non-empty with each grade once (grade {grade:?})"
    )]
    BadMemberScale {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
        /// The offending grade (empty when the scale is empty).
        grade: String,
    },
    /// Not total: a grade on the member's scale with no common grade.
    #[error(
        "agreement {agreement:?}, scheme {scheme}, member {member}: grade {grade:?} has no common grade in to_common (the mapping must be total)"
    )]
    UnmappedMemberGrade {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
        /// The member's grade.
        grade: String,
    },
    /// Not total: a common grade with no local grade for a member.
    #[error(
        "agreement {agreement:?}, scheme {scheme}, member {member}: common grade {grade:?} has no local grade in to_local (the mapping must be total)"
    )]
    UnmappedCommonGrade {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
        /// The common grade.
        grade: String,
    },
    /// A mapping to (or from) a grade that is not on the common scale.
    #[error(
        "agreement {agreement:?}, scheme {scheme}, member {member}: {grade:?} is not a grade of the common scale"
    )]
    UnknownCommonGrade {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
        /// The grade.
        grade: String,
    },
    /// A mapping from (or to) a grade that is not on the member's own scale.
    #[error(
        "agreement {agreement:?}, scheme {scheme}, member {member}: {grade:?} is not a grade of the member's scale"
    )]
    UnknownMemberGrade {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The member.
        member: RegionCode,
        /// The grade.
        grade: String,
    },
    /// A mapping that puts a better grade below a worse one.
    #[error("{0}")]
    NotMonotone(Box<NotMonotone>),
    /// A common grade without a treatment.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: common grade {grade:?} has no [[scheme.treatment]]"
    )]
    TreatmentMissing {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The common grade.
        grade: String,
    },
    /// A treatment for a grade not on the common scale, or a second one for a grade.
    #[error(
        "agreement {agreement:?}, scheme {scheme}: treatment for {grade:?} is for no common grade or repeats one"
    )]
    BadTreatment {
        /// The agreement code.
        agreement: String,
        /// The scheme.
        scheme: Scheme,
        /// The grade.
        grade: String,
    },
    /// The joint section lists no list type, or one twice.
    #[error(
        "agreement {0:?}: [joint] list_types must name each list type at most once, at least one"
    )]
    BadJointListTypes(String),
    /// A `[joint.release]` entry names an unknown or unbound list type, a
    /// field its catalogue category lacks, or an `internal` field.
    #[error("agreement {agreement:?}: [joint.release] {reason}")]
    BadJointRelease {
        /// The agreement code.
        agreement: String,
        /// What is wrong.
        reason: String,
    },
    /// The `[reports]` section names an unknown kind or purpose, none, or
    /// a maximum age outside 1 to 366 days.
    #[error("agreement {agreement:?}: [reports] {reason}")]
    BadReports {
        /// The agreement code.
        agreement: String,
        /// What is wrong.
        reason: String,
    },
    /// A joint deadline outside 1 to 365 days.
    #[error("agreement {agreement:?}: [joint] {key} must be 1 to {MAX_JOINT_DAYS} days")]
    BadJointDeadline {
        /// The agreement code.
        agreement: String,
        /// The key.
        key: &'static str,
    },
}

/// A mapping that reverses the best → worst order, as reported by
/// [`AgreementErrorKind::NotMonotone`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "agreement {agreement:?}, scheme {scheme}, member {member}: {mapping} maps {better:?} lower than {worse:?} although it is the better grade"
)]
pub struct NotMonotone {
    /// The agreement code.
    pub agreement: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The member.
    pub member: RegionCode,
    /// `to_common` or `to_local`.
    pub mapping: &'static str,
    /// The better source grade.
    pub better: String,
    /// The worse source grade.
    pub worse: String,
}
