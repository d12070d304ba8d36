//! Mutual-recognition agreements (信用评价结果互认协议) and the pure decision
//! whether a region recognises another region's credit evaluation result
//! (docs/design.md §8), plus the joint reward/punishment terms of the same
//! agreement (联合奖惩, §9).
//!
//! One agreement per TOML file (decision 0400):
//!
//! ```toml
//! code = "chongqing-guizhou"
//! name_zh = "渝黔信用评价结果互认协议"
//! name_en = "Chongqing–Guizhou credit evaluation mutual recognition agreement"
//! example = true                     # grade tables are examples …
//! note = "…to be replaced by the agreement's real tables"  # required when example
//! members = ["500000", "520000"]
//!
//! [joint]                            # optional: joint reward/punishment (联合奖惩)
//! list_types = ["red", "serious_dishonesty", "key_attention"]
//! respond_within_days = 5            # working days (see reporting::HolidayCalendar)
//! feedback_within_days = 10
//! change_confirm_within_days = 3
//!
//! [joint.release]                    # optional: entry details released to members
//! serious_dishonesty = ["document_number", "facts"]   # fields of the list's category
//!
//! [[scheme]]
//! scheme = "public_credit"           # public_credit | tax_credit | environmental_credit
//! versions = ["2024"]                # scheme versions accepted
//! max_age_days = 365                 # age measured from issued_at
//! common_scale = ["A", "B", "C", "D"]    # best → worst
//!
//! [[scheme.treatment]]               # one per common grade: what recognition grants
//! grade = "A"
//! supervision_tier = "A: reduced random inspections"
//! green_channel = true
//! notes = "…"                        # optional
//!
//! [[scheme.member]]                  # one per member
//! region = "520000"
//! scale = ["优", "良", "中", "差"]   # the member's own scale, best → worst
//! to_common = { "优" = "A", "良" = "B", "中" = "C", "差" = "D" }  # own → common
//! to_local = { A = "优", B = "良", C = "中", D = "差" }            # common → own
//! ```
//!
//! Load-time rules, each an [`AgreementErrorKind`] naming the file, line,
//! agreement, scheme, member and grade: at least two members, none twice,
//! never the national platform 000000; every scheme listed once with at least
//! one version, `max_age_days` ≥ 1 and a non-empty common scale; every member
//! has exactly one scale per scheme and no non-member has one; both mappings
//! are total (every own grade has a common grade, every common grade a local
//! grade), only use grades of the scales they map between, and keep the
//! best → worst order; every common grade has exactly one treatment; the
//! joint section names list types once and deadlines of 1 to 365 days.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use credex_protocol::RegionCode;
use credex_protocol::evaluation::{
    AttestationStatus, EvaluationAttestation, EvaluationBoundError, MAX_GRADE_LEN,
    MAX_SCHEME_VERSION_LEN, Scheme,
};
use serde::Deserialize;
use toml::Spanned;

use crate::canonical::Canon;
use crate::measures::ListType;
use crate::source::{self, LoadError};
use crate::subject_id::Uscc;

/// The shipped Pan-Pearl River agreement (`policies/agreements/pan-pearl-river.toml`).
pub const BUILTIN_PAN_PEARL_RIVER_TOML: &str = include_str!("../agreements/pan-pearl-river.toml");
/// The shipped Chongqing–Guizhou agreement (`policies/agreements/chongqing-guizhou.toml`).
pub const BUILTIN_CHONGQING_GUIZHOU_TOML: &str =
    include_str!("../agreements/chongqing-guizhou.toml");

/// Milliseconds in a day: `max_age_days` is counted in 24-hour days.
const DAY_MS: i64 = 86_400_000;
/// Longest deadline in the joint section, in days.
const MAX_JOINT_DAYS: u32 = 365;
/// Longest accepted `max_age_days` (ten years).
const MAX_AGE_DAYS: u32 = 3660;

/// What recognising a result grants locally for one common grade (互认待遇).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Treatment {
    /// The supervision tier the subject is placed in (分级分类监管), e.g.
    /// `"A: reduced random inspections"`.
    pub supervision_tier: String,
    /// Whether the subject gets the administrative-approval green channel (绿色通道).
    pub green_channel: bool,
    /// Further notes; may be empty.
    pub notes: String,
}

/// One member's scale for a scheme and its two mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberScale {
    /// The member's own grades, best → worst.
    pub scale: Vec<String>,
    /// Own grade → common grade (total over `scale`).
    pub to_common: BTreeMap<String, String>,
    /// Common grade → own grade (total over the common scale): the local
    /// grade a result recognised by this member is given.
    pub to_local: BTreeMap<String, String>,
}

/// The terms for one recognised scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeTerms {
    /// The scheme.
    pub scheme: Scheme,
    /// Scheme versions accepted.
    pub versions: BTreeSet<String>,
    /// A result counts for at most this many days after its `issued_at`.
    pub max_age_days: u32,
    /// The common scale (共同等级), best → worst.
    pub common_scale: Vec<String>,
    /// Common grade → what recognition grants.
    pub treatments: BTreeMap<String, Treatment>,
    /// Every member's scale and mappings.
    pub members: BTreeMap<RegionCode, MemberScale>,
}

/// The joint reward and punishment terms (联合奖惩): which lists the
/// agreement binds and the deadlines of initiate → respond → feedback
/// (发起—响应—反馈), in working days.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JointTerms {
    /// The lists whose entries travel between members.
    pub list_types: BTreeSet<ListType>,
    /// A receiving member answers an initiated entry within this many working days (响应).
    pub respond_within_days: u32,
    /// It reports the measures taken within this many working days (反馈).
    pub feedback_within_days: u32,
    /// It confirms an exit, repair or correction within this many working days.
    pub change_confirm_within_days: u32,
    /// Per list type, the detail fields of the list's catalogue category
    /// (beyond an entry's own basis, authority, dates and measures) that a
    /// member receives: the egress gate releases these and withholds the
    /// rest. Never an `internal` field. A list type not named here gets no
    /// details.
    pub release: BTreeMap<ListType, BTreeSet<String>>,
}

/// A validated mutual-recognition agreement. Only [`Agreement::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// Stable code (a slug), e.g. `pan-pearl-river`.
    pub code: String,
    /// Chinese name (中文名称).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Whether the grade tables are examples, to be replaced by the
    /// agreement's real tables.
    pub example: bool,
    /// A note on the tables (required when `example`).
    pub note: Option<String>,
    /// Member regions.
    pub members: BTreeSet<RegionCode>,
    /// Recognised schemes.
    pub schemes: BTreeMap<Scheme, SchemeTerms>,
    /// Joint reward and punishment terms, if the agreement has them.
    pub joint: Option<JointTerms>,
}

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
    /// Neither a scheme nor a joint section: the agreement does nothing.
    #[error("agreement {0:?} recognises no scheme and has no [joint] section")]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgreement {
    code: Spanned<String>,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    example: bool,
    note: Option<String>,
    members: Spanned<Vec<Spanned<RegionCode>>>,
    joint: Option<Spanned<RawJoint>>,
    #[serde(default)]
    scheme: Vec<RawScheme>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJoint {
    list_types: Spanned<Vec<ListType>>,
    respond_within_days: Spanned<u32>,
    feedback_within_days: Spanned<u32>,
    change_confirm_within_days: Spanned<u32>,
    #[serde(default)]
    release: BTreeMap<String, Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    scheme: Spanned<Scheme>,
    versions: Spanned<Vec<String>>,
    max_age_days: Spanned<u32>,
    common_scale: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    treatment: Vec<RawTreatment>,
    #[serde(default)]
    member: Vec<RawMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTreatment {
    grade: Spanned<String>,
    supervision_tier: String,
    green_channel: bool,
    #[serde(default)]
    notes: String,
}

type RawMapping = Spanned<BTreeMap<String, Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    region: Spanned<RegionCode>,
    scale: Spanned<Vec<Spanned<String>>>,
    to_common: RawMapping,
    to_local: RawMapping,
}

fn is_grade(g: &str) -> bool {
    (1..=MAX_GRADE_LEN).contains(&g.len()) && g.trim() == g
}

/// Parses one file; keeps the text and origin so every rule can point at a span.
struct Parser<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Parser<'_> {
    fn err(&self, span: &Range<usize>, kind: AgreementErrorKind) -> AgreementError {
        LoadError::at(self.origin, self.text, span, kind)
    }

    fn agreement(&self) -> Result<(Agreement, Range<usize>), AgreementError> {
        let raw: RawAgreement = toml::from_str(self.text).map_err(|e| {
            LoadError::from_toml(self.origin, self.text, &e, AgreementErrorKind::Toml)
        })?;
        let code = raw.code.get_ref().clone();
        let code_span = raw.code.span();
        if !source::is_slug(&code) {
            return Err(self.err(&code_span, AgreementErrorKind::BadCode(code)));
        }
        if raw.example && raw.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(self.err(&code_span, AgreementErrorKind::ExampleWithoutNote(code)));
        }
        let mut members = BTreeSet::new();
        for m in raw.members.get_ref() {
            let region = *m.get_ref();
            if region.is_national() {
                return Err(self.err(&m.span(), AgreementErrorKind::NationalMember(code)));
            }
            if !members.insert(region) {
                return Err(self.err(
                    &m.span(),
                    AgreementErrorKind::DuplicateMember {
                        agreement: code,
                        region,
                    },
                ));
            }
        }
        if members.len() < 2 {
            return Err(self.err(&raw.members.span(), AgreementErrorKind::TooFewMembers(code)));
        }
        let joint = match raw.joint {
            Some(j) => Some(self.joint(&code, j)?),
            None => None,
        };
        let mut schemes = BTreeMap::new();
        for s in raw.scheme {
            let scheme = *s.scheme.get_ref();
            if schemes.contains_key(&scheme) {
                return Err(self.err(
                    &s.scheme.span(),
                    AgreementErrorKind::DuplicateScheme {
                        agreement: code,
                        scheme,
                    },
                ));
            }
            schemes.insert(scheme, self.scheme(&code, &members, s)?);
        }
        if schemes.is_empty() && joint.is_none() {
            return Err(self.err(&code_span, AgreementErrorKind::Empty(code)));
        }
        let agreement = Agreement {
            code,
            name_zh: raw.name_zh,
            name_en: raw.name_en,
            example: raw.example,
            note: raw.note,
            members,
            schemes,
            joint,
        };
        Ok((agreement, code_span))
    }

    fn joint(&self, code: &str, j: Spanned<RawJoint>) -> Result<JointTerms, AgreementError> {
        let j = j.into_inner();
        let mut list_types = BTreeSet::new();
        let all_once = j.list_types.get_ref().iter().all(|l| list_types.insert(*l));
        if !all_once || list_types.is_empty() {
            return Err(self.err(
                &j.list_types.span(),
                AgreementErrorKind::BadJointListTypes(code.to_owned()),
            ));
        }
        for (key, days) in [
            ("respond_within_days", &j.respond_within_days),
            ("feedback_within_days", &j.feedback_within_days),
            ("change_confirm_within_days", &j.change_confirm_within_days),
        ] {
            if !(1..=MAX_JOINT_DAYS).contains(days.get_ref()) {
                return Err(self.err(
                    &days.span(),
                    AgreementErrorKind::BadJointDeadline {
                        agreement: code.to_owned(),
                        key,
                    },
                ));
            }
        }
        let mut release = BTreeMap::new();
        let catalogue = crate::Catalogue::base();
        for (list, fields) in &j.release {
            let at = fields.span();
            let bad = |reason: String| {
                self.err(
                    &at,
                    AgreementErrorKind::BadJointRelease {
                        agreement: code.to_owned(),
                        reason,
                    },
                )
            };
            let list_type: ListType = list
                .parse()
                .map_err(|_| bad(format!("{list:?} is not a list type")))?;
            if !list_types.contains(&list_type) {
                return Err(bad(format!("{list:?} is not in list_types")));
            }
            let category = list_type.catalogue_category();
            let mut named = BTreeSet::new();
            for f in fields.get_ref() {
                match catalogue.field(category, f) {
                    None => return Err(bad(format!("{f:?} is not a field of {category}"))),
                    Some(field) if field.class == crate::SensitivityClass::Internal => {
                        return Err(bad(format!(
                            "{category}.{f} is internal (内部) and never leaves a node"
                        )));
                    }
                    Some(_) => {
                        named.insert(f.clone());
                    }
                }
            }
            release.insert(list_type, named);
        }
        Ok(JointTerms {
            list_types,
            release,
            respond_within_days: *j.respond_within_days.get_ref(),
            feedback_within_days: *j.feedback_within_days.get_ref(),
            change_confirm_within_days: *j.change_confirm_within_days.get_ref(),
        })
    }

    fn scheme(
        &self,
        code: &str,
        members: &BTreeSet<RegionCode>,
        s: RawScheme,
    ) -> Result<SchemeTerms, AgreementError> {
        let scheme = *s.scheme.get_ref();
        let agreement = || code.to_owned();
        let mut versions = BTreeSet::new();
        let versions_ok = !s.versions.get_ref().is_empty()
            && s.versions.get_ref().iter().all(|v| {
                (1..=MAX_SCHEME_VERSION_LEN).contains(&v.len()) && versions.insert(v.clone())
            });
        if !versions_ok {
            return Err(self.err(
                &s.versions.span(),
                AgreementErrorKind::BadVersions {
                    agreement: agreement(),
                    scheme,
                },
            ));
        }
        let days = *s.max_age_days.get_ref();
        if !(1..=MAX_AGE_DAYS).contains(&days) {
            return Err(self.err(
                &s.max_age_days.span(),
                AgreementErrorKind::BadMaxAge {
                    agreement: agreement(),
                    scheme,
                    days,
                },
            ));
        }
        if s.common_scale.get_ref().is_empty() {
            return Err(self.err(
                &s.common_scale.span(),
                AgreementErrorKind::EmptyCommonScale {
                    agreement: agreement(),
                    scheme,
                },
            ));
        }
        let mut common_scale: Vec<String> = Vec::new();
        for g in s.common_scale.get_ref() {
            let grade = g.get_ref().clone();
            if !is_grade(&grade) {
                let kind = AgreementErrorKind::BadGrade {
                    agreement: agreement(),
                    scheme,
                    grade,
                };
                return Err(self.err(&g.span(), kind));
            }
            if common_scale.contains(&grade) {
                let kind = AgreementErrorKind::DuplicateCommonGrade {
                    agreement: agreement(),
                    scheme,
                    grade,
                };
                return Err(self.err(&g.span(), kind));
            }
            common_scale.push(grade);
        }
        let mut treatments = BTreeMap::new();
        for t in s.treatment {
            let grade = t.grade.get_ref().clone();
            if !common_scale.contains(&grade) || treatments.contains_key(&grade) {
                let kind = AgreementErrorKind::BadTreatment {
                    agreement: agreement(),
                    scheme,
                    grade,
                };
                return Err(self.err(&t.grade.span(), kind));
            }
            treatments.insert(
                grade,
                Treatment {
                    supervision_tier: t.supervision_tier,
                    green_channel: t.green_channel,
                    notes: t.notes,
                },
            );
        }
        if let Some(grade) = common_scale.iter().find(|g| !treatments.contains_key(*g)) {
            let kind = AgreementErrorKind::TreatmentMissing {
                agreement: agreement(),
                scheme,
                grade: grade.clone(),
            };
            return Err(self.err(&s.scheme.span(), kind));
        }
        if s.member.is_empty() {
            let kind = AgreementErrorKind::NoMapping {
                agreement: agreement(),
                scheme,
            };
            return Err(self.err(&s.scheme.span(), kind));
        }
        let mut scales = BTreeMap::new();
        for m in s.member {
            let region = *m.region.get_ref();
            if !members.contains(&region) {
                let kind = AgreementErrorKind::NotAMember {
                    agreement: agreement(),
                    scheme,
                    region,
                };
                return Err(self.err(&m.region.span(), kind));
            }
            if scales.contains_key(&region) {
                let kind = AgreementErrorKind::DuplicateMemberScale {
                    agreement: agreement(),
                    scheme,
                    member: region,
                };
                return Err(self.err(&m.region.span(), kind));
            }
            let ctx = MemberCtx {
                agreement: code,
                scheme,
                member: region,
                common_scale: &common_scale,
            };
            scales.insert(region, self.member(&ctx, m)?);
        }
        if let Some(&member) = members.iter().find(|r| !scales.contains_key(*r)) {
            let kind = AgreementErrorKind::MemberWithoutScale {
                agreement: agreement(),
                scheme,
                member,
            };
            return Err(self.err(&s.scheme.span(), kind));
        }
        Ok(SchemeTerms {
            scheme,
            versions,
            max_age_days: days,
            common_scale,
            treatments,
            members: scales,
        })
    }

    fn member(&self, ctx: &MemberCtx<'_>, m: RawMember) -> Result<MemberScale, AgreementError> {
        let mut scale: Vec<String> = Vec::new();
        for g in m.scale.get_ref() {
            let grade = g.get_ref().clone();
            if !is_grade(&grade) || scale.contains(&grade) {
                return Err(self.err(&g.span(), ctx.bad_scale(grade)));
            }
            scale.push(grade);
        }
        if scale.is_empty() {
            return Err(self.err(&m.scale.span(), ctx.bad_scale(String::new())));
        }
        let to_common = self.mapping(ctx, &m.to_common, &scale, ctx.common_scale, "to_common")?;
        let to_local = self.mapping(ctx, &m.to_local, ctx.common_scale, &scale, "to_local")?;
        Ok(MemberScale {
            scale,
            to_common,
            to_local,
        })
    }

    /// Check a mapping from the `from` scale to the `to` scale: keys on
    /// `from`, values on `to`, total, and order-preserving.
    fn mapping(
        &self,
        ctx: &MemberCtx<'_>,
        raw: &RawMapping,
        from: &[String],
        to: &[String],
        name: &'static str,
    ) -> Result<BTreeMap<String, String>, AgreementError> {
        let to_common = name == "to_common";
        // Which scale a grade that is on neither side should be blamed on.
        let unknown_from = |g: &str| {
            if to_common {
                ctx.unknown_member(g)
            } else {
                ctx.unknown_common(g)
            }
        };
        let unknown_to = |g: &str| {
            if to_common {
                ctx.unknown_common(g)
            } else {
                ctx.unknown_member(g)
            }
        };
        let mut out = BTreeMap::new();
        for (key, value) in raw.get_ref() {
            if !from.contains(key) {
                return Err(self.err(&raw.span(), unknown_from(key)));
            }
            if !to.contains(value.get_ref()) {
                return Err(self.err(&value.span(), unknown_to(value.get_ref())));
            }
            out.insert(key.clone(), value.get_ref().clone());
        }
        if let Some(missing) = from.iter().find(|g| !out.contains_key(*g)) {
            let kind = if to_common {
                ctx.unmapped_member(missing)
            } else {
                ctx.unmapped_common(missing)
            };
            return Err(self.err(&raw.span(), kind));
        }
        // Order-preserving: walking `from` best → worst never goes up on `to`.
        // Indexing `out` cannot panic: the totality check above returned
        // unless every grade of `from` is a key.
        let rank = |g: &String| to.iter().position(|t| t == g);
        for pair in from.windows(2) {
            let (better, worse) = (&pair[0], &pair[1]);
            if rank(&out[better]) > rank(&out[worse]) {
                let kind = AgreementErrorKind::NotMonotone(Box::new(NotMonotone {
                    agreement: ctx.agreement.to_owned(),
                    scheme: ctx.scheme,
                    member: ctx.member,
                    mapping: name,
                    better: better.clone(),
                    worse: worse.clone(),
                }));
                return Err(self.err(&raw.span(), kind));
            }
        }
        Ok(out)
    }
}

/// The agreement, scheme and member a member table belongs to, for errors.
struct MemberCtx<'a> {
    agreement: &'a str,
    scheme: Scheme,
    member: RegionCode,
    common_scale: &'a [String],
}

impl MemberCtx<'_> {
    fn bad_scale(&self, grade: String) -> AgreementErrorKind {
        AgreementErrorKind::BadMemberScale {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade,
        }
    }
    fn unknown_member(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnknownMemberGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
    fn unknown_common(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnknownCommonGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
    fn unmapped_member(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnmappedMemberGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
    fn unmapped_common(&self, grade: &str) -> AgreementErrorKind {
        AgreementErrorKind::UnmappedCommonGrade {
            agreement: self.agreement.to_owned(),
            scheme: self.scheme,
            member: self.member,
            grade: grade.to_owned(),
        }
    }
}

impl Agreement {
    /// Parse and validate one agreement file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Agreement, AgreementError> {
        Parser { text, origin }.agreement().map(|(a, _)| a)
    }

    /// Read and parse an agreement file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Agreement, AgreementError> {
        let (text, origin) = source::read_text(path.as_ref(), AgreementErrorKind::Read)?;
        Agreement::parse(&text, &origin)
    }

    /// Whether `region` is a member.
    pub fn has_member(&self, region: RegionCode) -> bool {
        self.members.contains(&region)
    }

    /// Whether the joint section binds `list_type`.
    pub fn binds(&self, list_type: ListType) -> bool {
        self.joint
            .as_ref()
            .is_some_and(|j| j.list_types.contains(&list_type))
    }
}

/// The agreements a node applies, by code, with a canonical content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementSet {
    agreements: BTreeMap<String, Agreement>,
    hash: [u8; 32],
}

impl AgreementSet {
    /// No agreements: nothing is recognised and no joint peers exist.
    pub fn empty() -> AgreementSet {
        AgreementSet::from_map(BTreeMap::new())
    }

    /// The shipped agreements: `pan-pearl-river` and `chongqing-guizhou`
    /// (both `example = true`).
    pub fn builtin() -> AgreementSet {
        static BUILTIN: LazyLock<AgreementSet> = LazyLock::new(|| {
            // Invariant: the embedded files are valid and their codes
            // differ; the unit test `shipped_agreements_load` fails otherwise.
            #[allow(clippy::expect_used)]
            AgreementSet::empty()
                .with_text(
                    BUILTIN_PAN_PEARL_RIVER_TOML,
                    "agreements/pan-pearl-river.toml",
                )
                .and_then(|s| {
                    s.with_text(
                        BUILTIN_CHONGQING_GUIZHOU_TOML,
                        "agreements/chongqing-guizhou.toml",
                    )
                })
                .expect("embedded agreements are valid")
        });
        BUILTIN.clone()
    }

    /// This set plus the agreement in `text`. An agreement with the same
    /// code replaces an `example = true` one (the real tables replacing the
    /// shipped examples); any other repeated code is refused.
    pub fn with_text(&self, text: &str, origin: &str) -> Result<AgreementSet, AgreementError> {
        let parser = Parser { text, origin };
        let (agreement, span) = parser.agreement()?;
        if self
            .agreements
            .get(&agreement.code)
            .is_some_and(|old| !old.example)
        {
            return Err(parser.err(
                &span,
                AgreementErrorKind::DuplicateAgreement(agreement.code),
            ));
        }
        let mut agreements = self.agreements.clone();
        agreements.insert(agreement.code.clone(), agreement);
        Ok(AgreementSet::from_map(agreements))
    }

    /// This set plus the agreement file at `path` (see [`AgreementSet::with_text`]).
    pub fn with_file(&self, path: impl AsRef<Path>) -> Result<AgreementSet, AgreementError> {
        let (text, origin) = source::read_text(path.as_ref(), AgreementErrorKind::Read)?;
        self.with_text(&text, &origin)
    }

    fn from_map(agreements: BTreeMap<String, Agreement>) -> AgreementSet {
        let hash = canonical_hash(&agreements);
        AgreementSet { agreements, hash }
    }

    /// The agreement named `code`.
    pub fn agreement(&self, code: &str) -> Option<&Agreement> {
        self.agreements.get(code)
    }

    /// Every agreement, ordered by code.
    pub fn iter(&self) -> impl Iterator<Item = &Agreement> {
        self.agreements.values()
    }

    /// The agreements that have both `a` and `b` as members, in precedence
    /// order: fewest members first (the more specific agreement), then by
    /// code. Empty when `a == b`.
    pub fn agreements_between(&self, a: RegionCode, b: RegionCode) -> Vec<&Agreement> {
        if a == b {
            return Vec::new();
        }
        let mut out: Vec<&Agreement> = self
            .agreements
            .values()
            .filter(|ag| ag.has_member(a) && ag.has_member(b))
            .collect();
        out.sort_by(|x, y| {
            x.members
                .len()
                .cmp(&y.members.len())
                .then_with(|| x.code.cmp(&y.code))
        });
        out
    }

    /// The regions `region` exchanges `list_type` entries with: every other
    /// member of every agreement that contains `region` and whose joint
    /// section binds `list_type`.
    pub fn joint_peers(&self, region: RegionCode, list_type: ListType) -> BTreeSet<RegionCode> {
        self.agreements
            .values()
            .filter(|a| a.has_member(region) && a.binds(list_type))
            .flat_map(|a| a.members.iter().copied())
            .filter(|&r| r != region)
            .collect()
    }

    /// SHA-256 over the canonical encoding of the parsed agreements (domain
    /// `credex/agreement-set/v1`, decision 0400): file layout and comments do
    /// not change it; any change in meaning does. Every recognition decision
    /// the node logs records it.
    pub fn content_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`AgreementSet::content_hash`] as lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

impl Default for AgreementSet {
    fn default() -> Self {
        AgreementSet::builtin()
    }
}

fn scheme_tag(s: Scheme) -> u8 {
    match s {
        Scheme::PublicCredit => 1,
        Scheme::TaxCredit => 2,
        Scheme::EnvironmentalCredit => 3,
    }
}

fn canonical_hash(agreements: &BTreeMap<String, Agreement>) -> [u8; 32] {
    let mut c = Canon::new("credex/agreement-set/v1");
    let map = |c: &mut Canon, m: &BTreeMap<String, String>| {
        c.len(m.len());
        for (k, v) in m {
            c.str(k).str(v);
        }
    };
    c.len(agreements.len());
    for a in agreements.values() {
        c.str(&a.code)
            .str(&a.name_zh)
            .str(&a.name_en)
            .bool(a.example);
        match &a.note {
            Some(n) => c.u8(1).str(n),
            None => c.u8(0),
        };
        c.len(a.members.len());
        for m in &a.members {
            c.u32(m.as_u32());
        }
        c.len(a.schemes.len());
        for t in a.schemes.values() {
            c.u8(scheme_tag(t.scheme));
            c.len(t.versions.len());
            for v in &t.versions {
                c.str(v);
            }
            c.u32(t.max_age_days);
            c.len(t.common_scale.len());
            for g in &t.common_scale {
                c.str(g);
            }
            c.len(t.treatments.len());
            for (g, tr) in &t.treatments {
                c.str(g)
                    .str(&tr.supervision_tier)
                    .bool(tr.green_channel)
                    .str(&tr.notes);
            }
            c.len(t.members.len());
            for (r, m) in &t.members {
                c.u32(r.as_u32());
                c.len(m.scale.len());
                for g in &m.scale {
                    c.str(g);
                }
                map(&mut c, &m.to_common);
                map(&mut c, &m.to_local);
            }
        }
        match &a.joint {
            Some(j) => {
                c.u8(1).len(j.list_types.len());
                for l in &j.list_types {
                    c.u8(l.tag());
                }
                c.u32(j.respond_within_days)
                    .u32(j.feedback_within_days)
                    .u32(j.change_confirm_within_days);
                c.len(j.release.len());
                for (l, fields) in &j.release {
                    c.u8(l.tag()).len(fields.len());
                    for f in fields {
                        c.str(f);
                    }
                }
            }
            None => {
                c.u8(0);
            }
        }
    }
    c.finish()
}

/// Whether a receiving region recognises an evaluation result (互认结果).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecognitionDecision {
    /// The result is recognised under `agreement`.
    Recognised {
        /// The agreement's code.
        agreement: String,
        /// The issuer's grade on the agreement's common scale.
        common_grade: String,
        /// The grade on the receiver's own scale.
        local_grade: String,
        /// What the receiver grants for it.
        treatment: Treatment,
        /// The last instant (Unix ms, inclusive) the recognition holds:
        /// min(valid_until_ms, issued_at_ms + max_age_days).
        counts_until_ms: i64,
    },
    /// The result is not recognised, for one reason.
    NotRecognised(NotRecognisedReason),
}

/// Why a result is not recognised: one variant per rule, in the order they
/// are checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRecognisedReason {
    /// The attestation breaks a bound or format rule.
    #[error("malformed attestation: {0}")]
    Malformed(EvaluationBoundError),
    /// The subject is not a valid unified social credit code (check digit).
    #[error("the subject is not a valid unified social credit code")]
    InvalidSubject,
    /// The receiver issued the result itself: nothing to recognise.
    #[error("the issuer is the receiving region itself")]
    IssuerIsReceiver,
    /// Issuer and receiver share no agreement.
    #[error("issuer {issuer} and receiver {receiver} share no mutual-recognition agreement")]
    NoAgreement {
        /// The issuing region.
        issuer: RegionCode,
        /// The receiving region.
        receiver: RegionCode,
    },
    /// No shared agreement recognises the scheme.
    #[error("no shared agreement recognises scheme {0}")]
    SchemeNotRecognised(Scheme),
    /// The scheme is recognised, but not in this version.
    #[error("scheme {scheme} version {version:?} is not accepted")]
    SchemeVersionNotAccepted {
        /// The scheme.
        scheme: Scheme,
        /// The attestation's version.
        version: String,
    },
    /// The issuer revoked the result.
    #[error("the result was revoked: {reason}")]
    Revoked {
        /// The issuer's reason.
        reason: String,
    },
    /// The grade is not on the issuer's scale in the agreement.
    #[error("grade {grade:?} is not on the issuer's scale")]
    UnknownGrade {
        /// The grade as attested.
        grade: String,
    },
    /// `now` is before the result was issued.
    #[error("the result is issued in the future (issued_at_ms {issued_at_ms})")]
    NotYetValid {
        /// The attestation's issue time.
        issued_at_ms: i64,
    },
    /// `now` is past the issuer's `valid_until`.
    #[error("the result expired at {valid_until_ms}")]
    Expired {
        /// The attestation's end of validity.
        valid_until_ms: i64,
    },
    /// `now` is past the agreement's maximum age, counted from issued_at.
    #[error("the result is older than the agreement's {max_age_days} days")]
    TooOld {
        /// The agreement's maximum age.
        max_age_days: u32,
    },
}

impl NotRecognisedReason {
    /// A short stable name for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            NotRecognisedReason::Malformed(_) => "malformed",
            NotRecognisedReason::InvalidSubject => "invalid_subject",
            NotRecognisedReason::IssuerIsReceiver => "issuer_is_receiver",
            NotRecognisedReason::NoAgreement { .. } => "no_agreement",
            NotRecognisedReason::SchemeNotRecognised(_) => "scheme_not_recognised",
            NotRecognisedReason::SchemeVersionNotAccepted { .. } => "scheme_version_not_accepted",
            NotRecognisedReason::Revoked { .. } => "revoked",
            NotRecognisedReason::UnknownGrade { .. } => "unknown_grade",
            NotRecognisedReason::NotYetValid { .. } => "not_yet_valid",
            NotRecognisedReason::Expired { .. } => "expired",
            NotRecognisedReason::TooOld { .. } => "too_old",
        }
    }

    /// How far the checks got before this reason: when several agreements
    /// apply and none recognises, the reason that got furthest is reported.
    fn stage(&self) -> u8 {
        match self {
            NotRecognisedReason::Malformed(_) => 0,
            NotRecognisedReason::InvalidSubject => 1,
            NotRecognisedReason::IssuerIsReceiver => 2,
            NotRecognisedReason::NoAgreement { .. } => 3,
            NotRecognisedReason::SchemeNotRecognised(_) => 4,
            NotRecognisedReason::SchemeVersionNotAccepted { .. } => 5,
            NotRecognisedReason::Revoked { .. } => 6,
            NotRecognisedReason::UnknownGrade { .. } => 7,
            NotRecognisedReason::NotYetValid { .. } => 8,
            NotRecognisedReason::Expired { .. } => 9,
            NotRecognisedReason::TooOld { .. } => 10,
        }
    }
}

/// Decide whether `receiver` recognises `attestation` at `now_ms` (Unix ms).
///
/// The caller has already verified the attestation's signature (over
/// `DOMAIN_EVAL_ATTESTATION` ‖ postcard(attestation), `credex_pki::signing`)
/// and that the signing node belongs to `issuer_region`; this function trusts
/// the attestation's content. It is pure: the node and the auditor run it
/// alike.
///
/// Checks, in order: bounds ([`EvaluationAttestation::validate`]), the
/// subject's check digit, issuer ≠ receiver, a shared agreement, then per
/// shared agreement: scheme recognised, version accepted, not revoked, grade
/// on the issuer's scale, issued_at ≤ now, now ≤ valid_until, now ≤
/// issued_at + max_age_days. When several agreements are shared, they are
/// tried in [`AgreementSet::agreements_between`] order (fewest members, then
/// code) and the first that recognises wins; if none does, the reason of the
/// agreement whose checks got furthest is returned (ties: the first in that
/// order).
pub fn recognise(
    set: &AgreementSet,
    receiver: RegionCode,
    attestation: &EvaluationAttestation,
    now_ms: i64,
) -> RecognitionDecision {
    use RecognitionDecision::NotRecognised;
    if let Err(e) = attestation.validate() {
        return NotRecognised(NotRecognisedReason::Malformed(e));
    }
    if Uscc::parse(&attestation.subject).is_err() {
        return NotRecognised(NotRecognisedReason::InvalidSubject);
    }
    let issuer = attestation.issuer_region;
    if issuer == receiver {
        return NotRecognised(NotRecognisedReason::IssuerIsReceiver);
    }
    let mut best: Option<NotRecognisedReason> = None;
    for agreement in set.agreements_between(issuer, receiver) {
        match recognise_under(agreement, receiver, attestation, now_ms) {
            Ok(decision) => return decision,
            Err(reason) => {
                if best.as_ref().is_none_or(|b| reason.stage() > b.stage()) {
                    best = Some(reason);
                }
            }
        }
    }
    NotRecognised(best.unwrap_or(NotRecognisedReason::NoAgreement { issuer, receiver }))
}

/// The checks of [`recognise`] under one agreement that has both regions.
fn recognise_under(
    agreement: &Agreement,
    receiver: RegionCode,
    a: &EvaluationAttestation,
    now_ms: i64,
) -> Result<RecognitionDecision, NotRecognisedReason> {
    let terms = agreement
        .schemes
        .get(&a.scheme)
        .ok_or(NotRecognisedReason::SchemeNotRecognised(a.scheme))?;
    if !terms.versions.contains(&a.scheme_version) {
        return Err(NotRecognisedReason::SchemeVersionNotAccepted {
            scheme: a.scheme,
            version: a.scheme_version.clone(),
        });
    }
    if let AttestationStatus::Revoked { reason } = &a.status {
        return Err(NotRecognisedReason::Revoked {
            reason: reason.clone(),
        });
    }
    let unknown = || NotRecognisedReason::UnknownGrade {
        grade: a.grade.clone(),
    };
    // Validation makes every member's mappings total, so the receiver's
    // to_local and the treatment always exist for a common grade; a lookup
    // that fails anyway is reported as an unknown grade rather than a panic.
    let common_grade = terms
        .members
        .get(&a.issuer_region)
        .and_then(|m| m.to_common.get(&a.grade))
        .ok_or_else(unknown)?;
    let local_grade = terms
        .members
        .get(&receiver)
        .and_then(|m| m.to_local.get(common_grade))
        .ok_or_else(unknown)?;
    let treatment = terms.treatments.get(common_grade).ok_or_else(unknown)?;
    if now_ms < a.issued_at_ms {
        return Err(NotRecognisedReason::NotYetValid {
            issued_at_ms: a.issued_at_ms,
        });
    }
    if now_ms > a.valid_until_ms {
        return Err(NotRecognisedReason::Expired {
            valid_until_ms: a.valid_until_ms,
        });
    }
    let max_age_end = a
        .issued_at_ms
        .saturating_add(i64::from(terms.max_age_days).saturating_mul(DAY_MS));
    if now_ms > max_age_end {
        return Err(NotRecognisedReason::TooOld {
            max_age_days: terms.max_age_days,
        });
    }
    Ok(RecognitionDecision::Recognised {
        agreement: agreement.code.clone(),
        common_grade: common_grade.clone(),
        local_grade: local_grade.clone(),
        treatment: treatment.clone(),
        counts_until_ms: a.valid_until_ms.min(max_age_end),
    })
}

#[cfg(test)]
mod tests;
