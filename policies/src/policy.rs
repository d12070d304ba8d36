//! A node's sharing policy (共享策略): declarative TOML saying which fields of
//! which categories may be released to which peers, for which purposes,
//! under which subject-side condition, in which period, within which quota.
//! Deny by default: anything no rule releases is withheld.
//!
//! ```toml
//! owner = "520000"                       # the node's region
//!
//! [[legal_basis]]                        # bases rules may accept (法定依据)
//! code = "joint-punishment-memorandum"
//! title = "关于对失信被执行人实施联合惩戒的合作备忘录"
//!
//! [[rule]]
//! id = "ppr-procurement"
//! peers = { group = "pan-pearl-river" }  # and/or regions = ["500000"], national = true
//! purposes = ["public_procurement", "administrative_approval"]
//! valid_from = "2025-01-01"              # China Standard Time calendar days, inclusive
//! valid_until = "2027-12-31"             # optional: open-ended when absent
//! subject_authorization = "required"     # or "not_required"
//! legal_bases = ["joint-punishment-memorandum"]  # suffice instead of an authorization
//! consent_from = ["owner", "national"]   # authorities whose consent counts (the default; see consent)
//! quota = { per_day = 10000 }            # optional
//!
//! [[rule.release]]
//! category = "admin_penalty"
//! fields = ["decision_number", "decision_date", "basis", "amount"]  # or "all_shareable"
//! ```
//!
//! Load-time rules, each a [`PolicyErrorKind`] naming the file, the line and
//! the reason:
//! - unknown keys, purposes, groups, legal bases, categories and fields are
//!   refused, as are invalid dates, `valid_until` before `valid_from`, and
//!   duplicate rule ids;
//! - an `internal` field can never be listed; a `restricted` field only by a
//!   rule that requires subject authorization; `legal_bases` only on a rule
//!   that requires subject authorization (they are what may stand in for it);
//! - `upward_reporting` is only for the national platform as peer;
//! - `consent_from` only on a rule that requires subject authorization, not
//!   empty, without repeats, and never naming an authority of one of the
//!   rule's peers (see [`crate::consent`]);
//! - two rules that apply to the same peer, purpose and category on some
//!   common day must agree on `subject_authorization`, `legal_bases` and
//!   `consent_from`.
//!
//! `shared` (政务共享) fields need no further condition: every peer of the
//! federation is a government credit node.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use credex_protocol::RegionCode;
use serde::Deserialize;
use time::{Date, OffsetDateTime, UtcOffset};
use toml::Spanned;

use crate::canonical::Canon;
use crate::catalogue::{Catalogue, SensitivityClass};
use crate::consent::{BadConsentSource, ConsentAuthority, ConsentSource};
use crate::groups::AgreementGroups;
use crate::source::{self, LoadError};

/// China Standard Time (UTC+08:00): policy validity dates and quota days are
/// calendar days in this zone.
pub const CHINA_STANDARD_TIME: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    // Evaluated at compile time: +08:00 is always a valid offset.
    Err(_) => panic!("+08:00 is a valid UTC offset"),
};

/// The calendar day of `now` in China Standard Time; `None` only for instants
/// at the edge of the representable range.
pub fn china_date(now: OffsetDateTime) -> Option<Date> {
    now.checked_to_offset(CHINA_STANDARD_TIME).map(|t| t.date())
}

/// Why data is requested: a closed list of purposes (用途). The snake_case
/// names are what files and messages carry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Administrative approval and licensing (行政审批): checking an
    /// applicant's credit before granting a licence or approval.
    AdministrativeApproval,
    /// Government procurement and public tendering (政府采购与招投标):
    /// checking bidders and suppliers.
    PublicProcurement,
    /// Joint rewards and punishments (联合奖惩): applying incentives to the
    /// red list and disciplinary measures to the serious-dishonesty list
    /// across regions.
    JointPunishment,
    /// Credit-based financing (信易贷): giving lenders' platforms credit
    /// information for loans to small firms, with the subject's authorization.
    Financing,
    /// In-process and post-event supervision (事中事后监管): grading
    /// supervision by credit risk.
    Supervision,
    /// Mutual recognition of credit evaluation results (信用评价互认) under
    /// a cooperation agreement.
    MutualRecognition,
    /// Reporting upward to the national credit information sharing platform
    /// (向全国平台报送); only for the national platform as peer.
    UpwardReporting,
}

impl Purpose {
    /// Every purpose, in a fixed order.
    pub const ALL: [Purpose; 7] = [
        Purpose::AdministrativeApproval,
        Purpose::PublicProcurement,
        Purpose::JointPunishment,
        Purpose::Financing,
        Purpose::Supervision,
        Purpose::MutualRecognition,
        Purpose::UpwardReporting,
    ];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::AdministrativeApproval => "administrative_approval",
            Purpose::PublicProcurement => "public_procurement",
            Purpose::JointPunishment => "joint_punishment",
            Purpose::Financing => "financing",
            Purpose::Supervision => "supervision",
            Purpose::MutualRecognition => "mutual_recognition",
            Purpose::UpwardReporting => "upward_reporting",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Purpose::AdministrativeApproval => "行政审批",
            Purpose::PublicProcurement => "政府采购与招投标",
            Purpose::JointPunishment => "联合奖惩",
            Purpose::Financing => "信易贷",
            Purpose::Supervision => "事中事后监管",
            Purpose::MutualRecognition => "信用评价互认",
            Purpose::UpwardReporting => "向全国平台报送",
        }
    }

    /// A stable number for the canonical hash (never reused).
    fn tag(self) -> u8 {
        match self {
            Purpose::AdministrativeApproval => 1,
            Purpose::PublicProcurement => 2,
            Purpose::JointPunishment => 3,
            Purpose::Financing => 4,
            Purpose::Supervision => 5,
            Purpose::MutualRecognition => 6,
            Purpose::UpwardReporting => 7,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown purpose {s:?}"))
    }
}

/// Whether a rule needs the data subject's authorization (主体授权).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationRequirement {
    /// The request must carry the subject's electronic authorization covering
    /// it, or cite one of the rule's legal bases (for non-restricted fields).
    Required,
    /// Released without subject authorization.
    NotRequired,
}

impl AuthorizationRequirement {
    fn tag(self) -> u8 {
        match self {
            AuthorizationRequirement::Required => 1,
            AuthorizationRequirement::NotRequired => 2,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AuthorizationRequirement::Required => "required",
            AuthorizationRequirement::NotRequired => "not_required",
        }
    }
}

/// A legal basis a request may cite (法定依据), e.g.
/// `social-credit-planning-2014` 《社会信用体系建设规划纲要（2014—2020年）》.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalBasis {
    /// Stable code cited by requests.
    pub code: String,
    /// The title of the legal text.
    pub title: String,
}

/// A per-peer request quota (配额).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests per peer per China Standard Time day.
    pub per_day: u64,
}

/// The peers a rule applies to, as written and as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    group: Option<String>,
    regions: BTreeSet<RegionCode>,
    national: bool,
    members: BTreeSet<RegionCode>,
}

impl Peers {
    /// The agreement group named, if any.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// The regions listed explicitly.
    pub fn regions(&self) -> &BTreeSet<RegionCode> {
        &self.regions
    }

    /// Whether the national platform (000000) is a peer.
    pub fn national(&self) -> bool {
        self.national
    }

    /// Every peer region the rule applies to: group members and listed
    /// regions (the owner itself excluded), plus 000000 when `national`.
    /// Matching is by exact code: a city node is a peer only if listed.
    pub fn members(&self) -> &BTreeSet<RegionCode> {
        &self.members
    }

    /// Whether `region` is a peer of the rule.
    pub fn contains(&self, region: RegionCode) -> bool {
        self.members.contains(&region)
    }
}

/// One rule of a sharing policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    id: String,
    line: u32,
    peers: Peers,
    purposes: BTreeSet<Purpose>,
    valid_from: Date,
    valid_until: Option<Date>,
    authorization: AuthorizationRequirement,
    legal_bases: BTreeSet<String>,
    consent_from: BTreeSet<ConsentSource>,
    quota: Option<Quota>,
    releases: BTreeMap<String, BTreeSet<String>>,
}

impl Rule {
    /// The rule id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The line of the rule's `id` in its file.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Its peers.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The purposes it serves.
    pub fn purposes(&self) -> &BTreeSet<Purpose> {
        &self.purposes
    }

    /// First day in force (China Standard Time), inclusive.
    pub fn valid_from(&self) -> Date {
        self.valid_from
    }

    /// Last day in force (China Standard Time), inclusive; `None` = open-ended.
    pub fn valid_until(&self) -> Option<Date> {
        self.valid_until
    }

    /// Whether the subject's authorization is required.
    pub fn authorization(&self) -> AuthorizationRequirement {
        self.authorization
    }

    /// Legal bases that stand in for the subject's authorization
    /// (non-restricted fields only).
    pub fn legal_bases(&self) -> &BTreeSet<String> {
        &self.legal_bases
    }

    /// The authorities whose consent it accepts ([`crate::consent`]).
    pub fn consent_from(&self) -> &BTreeSet<ConsentSource> {
        &self.consent_from
    }

    /// Whether it accepts a subject authorization signed by `authority`,
    /// under a policy owned by `owner`.
    pub fn accepts_consent_from(&self, authority: &ConsentAuthority, owner: RegionCode) -> bool {
        self.consent_from.iter().any(|s| s.admits(authority, owner))
    }

    /// Its quota, if any.
    pub fn quota(&self) -> Option<Quota> {
        self.quota
    }

    /// Category → fields it releases (`all_shareable` already expanded).
    pub fn releases(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.releases
    }

    /// Whether it releases `field` of `category`.
    pub fn releases_field(&self, category: &str, field: &str) -> bool {
        self.releases
            .get(category)
            .is_some_and(|fields| fields.contains(field))
    }

    /// Whether `day` (China Standard Time) is within its validity.
    pub fn in_force_on(&self, day: Date) -> bool {
        self.valid_from <= day && self.valid_until.is_none_or(|until| day <= until)
    }

    fn overlaps_in_time(&self, other: &Rule) -> Option<Date> {
        let start = self.valid_from.max(other.valid_from);
        let end = match (self.valid_until, other.valid_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        end.is_none_or(|end| start <= end).then_some(start)
    }
}

/// Why a policy file failed to load.
pub type PolicyError = LoadError<PolicyErrorKind>;

/// The reason a policy file failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyErrorKind {
    /// The file could not be read.
    #[error("cannot read policy: {0}")]
    Read(String),
    /// Not valid TOML, an unknown key, a missing key, a wrong type, an
    /// unknown purpose or an invalid region code; the message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// A rule id is not a slug (`a-z`, `0-9`, `-`, `_`).
    #[error("rule id {0:?} must be a-z, 0-9, '-' and '_', at most 64 bytes")]
    BadRuleId(String),
    /// Two rules share an id.
    #[error("rule id {id:?} is already used by the rule at line {first_line}")]
    DuplicateRuleId {
        /// The id.
        id: String,
        /// Line of the first rule with it.
        first_line: u32,
    },
    /// A legal basis code is not a slug, or its title is empty.
    #[error("legal basis {0:?}: code must be a-z, 0-9, '-' and '_' and the title non-empty")]
    BadLegalBasis(String),
    /// Two legal bases share a code.
    #[error("legal basis {0:?} is defined twice")]
    DuplicateLegalBasis(String),
    /// A rule accepts a legal basis the policy does not define.
    #[error("rule {rule:?}: unknown legal basis {code:?} (define it in a [[legal_basis]] table)")]
    UnknownLegalBasis {
        /// The rule id.
        rule: String,
        /// The code.
        code: String,
    },
    /// A rule lists the same legal basis twice.
    #[error("rule {rule:?}: legal basis {code:?} listed twice")]
    DuplicateRuleLegalBasis {
        /// The rule id.
        rule: String,
        /// The code.
        code: String,
    },
    /// Legal bases only stand in for a required authorization.
    #[error(
        "rule {0:?}: legal_bases are only meaningful with subject_authorization = \"required\""
    )]
    LegalBasesWithoutAuthorization(String),
    /// `consent_from` on a rule that does not require authorization.
    #[error(
        "rule {0:?}: consent_from is only meaningful with subject_authorization = \"required\""
    )]
    ConsentFromWithoutAuthorization(String),
    /// `consent_from` lists nothing.
    #[error(
        "rule {0:?}: consent_from must name at least one source (\"owner\", \"national\" or \"REGION/NAME\")"
    )]
    EmptyConsentFrom(String),
    /// A `consent_from` entry does not parse.
    #[error("rule {rule:?}: {error}")]
    BadConsentSource {
        /// The rule id.
        rule: String,
        /// What is wrong.
        error: BadConsentSource,
    },
    /// A `consent_from` entry is listed twice.
    #[error("rule {rule:?}: consent source {entry} listed twice")]
    DuplicateConsentSource {
        /// The rule id.
        rule: String,
        /// The entry.
        entry: ConsentSource,
    },
    /// A named consent authority belongs to one of the rule's peers: it could
    /// only vouch for a query its own region makes, which is never accepted.
    #[error(
        "rule {rule:?}: authority {authority} belongs to region {}, a peer of this rule; \
         a requesting region never vouches for consent to its own query",
        authority.region
    )]
    ConsentFromPeer {
        /// The rule id.
        rule: String,
        /// The authority.
        authority: ConsentAuthority,
    },
    /// A rule names an agreement group that does not exist.
    #[error("rule {rule:?}: unknown agreement group {group:?}")]
    UnknownGroup {
        /// The rule id.
        rule: String,
        /// The group code.
        group: String,
    },
    /// A rule applies to no peer.
    #[error(
        "rule {0:?}: peers must name a group, regions, or national = true (and not only the owner)"
    )]
    NoPeers(String),
    /// A rule lists the owner's own region as a peer.
    #[error(
        "rule {rule:?}: region {region} is the policy owner; a node does not share with itself through the federation"
    )]
    OwnerAsPeer {
        /// The rule id.
        rule: String,
        /// The owner region.
        region: RegionCode,
    },
    /// A rule lists a region twice.
    #[error("rule {rule:?}: region {region} listed twice")]
    DuplicatePeerRegion {
        /// The rule id.
        rule: String,
        /// The region.
        region: RegionCode,
    },
    /// A rule lists no purpose.
    #[error("rule {0:?}: purposes must not be empty")]
    NoPurposes(String),
    /// A rule lists a purpose twice.
    #[error("rule {rule:?}: purpose {purpose} listed twice")]
    DuplicatePurpose {
        /// The rule id.
        rule: String,
        /// The purpose.
        purpose: Purpose,
    },
    /// `upward_reporting` with a peer other than the national platform.
    #[error(
        "rule {0:?}: upward_reporting is only for the national platform (peers = {{ national = true }})"
    )]
    UpwardReportingToRegion(String),
    /// A date is not a valid `YYYY-MM-DD` calendar date.
    #[error("rule {rule:?}: {key} = {value:?} is not a valid calendar date YYYY-MM-DD")]
    InvalidDate {
        /// The rule id.
        rule: String,
        /// `valid_from` or `valid_until`.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// `valid_until` is before `valid_from`.
    #[error("rule {rule:?}: valid_until {until} is before valid_from {from}")]
    ValidityReversed {
        /// The rule id.
        rule: String,
        /// `valid_from`.
        from: String,
        /// `valid_until`.
        until: String,
    },
    /// A quota of zero would make the rule useless.
    #[error("rule {0:?}: quota per_day must be at least 1 (remove the rule to share nothing)")]
    ZeroQuota(String),
    /// A rule releases nothing.
    #[error("rule {0:?}: needs at least one [[rule.release]]")]
    NoRelease(String),
    /// A release names a category the catalogue lacks.
    #[error("rule {rule:?}: unknown category {category:?} (not in the catalogue)")]
    UnknownCategory {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
    },
    /// A release names a field the category lacks.
    #[error("rule {rule:?}: category {category:?} has no field {field:?}")]
    UnknownField {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A rule releases the same category twice.
    #[error(
        "rule {rule:?}: category {category:?} released twice; merge the two [[rule.release]] tables"
    )]
    DuplicateRelease {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
    },
    /// A release lists the same field twice.
    #[error("rule {rule:?}: field {category}.{field} listed twice")]
    DuplicateReleaseField {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A release lists no field (or `all_shareable` matches none).
    #[error("rule {rule:?}: release of {category:?} has no fields")]
    EmptyRelease {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
    },
    /// An `internal` field listed in a release.
    #[error("rule {rule:?}: field {category}.{field} is internal and can never be released")]
    InternalField {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A `restricted` field in a rule that does not require authorization.
    #[error(
        "rule {rule:?}: field {category}.{field} is restricted and may only be released by a rule with subject_authorization = \"required\""
    )]
    RestrictedWithoutAuthorization {
        /// The rule id.
        rule: String,
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// Two rules apply to the same peer, purpose and category on a common
    /// day but disagree on the subject-side condition.
    #[error("{0}")]
    Contradiction(Box<Contradiction>),
}

/// Two contradicting rules, as reported by [`PolicyErrorKind::Contradiction`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "rule {rule:?} contradicts rule {other:?} (line {other_line}): both apply to peer {peer}, purpose {purpose}, category {category:?} on {day}, but {detail}"
)]
pub struct Contradiction {
    /// The later rule.
    pub rule: String,
    /// The earlier rule.
    pub other: String,
    /// Line of the earlier rule.
    pub other_line: u32,
    /// A peer both apply to.
    pub peer: RegionCode,
    /// A purpose both serve.
    pub purpose: Purpose,
    /// A category both release.
    pub category: String,
    /// A day both are in force.
    pub day: String,
    /// What differs.
    pub detail: String,
}

/// A loaded, validated sharing policy with its catalogue: what
/// [`crate::evaluate()`] decides against. Only [`PolicySet::parse`] builds one.
#[derive(Debug, Clone)]
pub struct PolicySet {
    owner: RegionCode,
    origin: String,
    legal_bases: BTreeMap<String, LegalBasis>,
    rules: Vec<Rule>,
    catalogue: Catalogue,
    hash: [u8; 32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    owner: RegionCode,
    #[serde(default)]
    legal_basis: Vec<RawLegalBasis>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLegalBasis {
    code: Spanned<String>,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    peers: Spanned<RawPeers>,
    purposes: Spanned<Vec<Spanned<Purpose>>>,
    valid_from: Spanned<DateValue>,
    valid_until: Option<Spanned<DateValue>>,
    subject_authorization: Spanned<AuthorizationRequirement>,
    legal_bases: Option<Spanned<Vec<Spanned<String>>>>,
    consent_from: Option<Spanned<Vec<Spanned<String>>>>,
    quota: Option<Spanned<RawQuota>>,
    #[serde(default)]
    release: Vec<RawRelease>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeers {
    group: Option<Spanned<String>>,
    regions: Option<Vec<Spanned<RegionCode>>>,
    national: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    per_day: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    category: Spanned<String>,
    fields: Spanned<RawFields>,
}

/// `fields = ["a", "b"]` or `fields = "all_shareable"`.
enum RawFields {
    List(Vec<Spanned<String>>),
    AllShareable,
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of field codes or \"all_shareable\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawFields, E> {
                if s == "all_shareable" {
                    Ok(RawFields::AllShareable)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(s), &self))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawFields, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    out.push(item);
                }
                Ok(RawFields::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A date written either as a TOML local date (`2025-01-01`) or as a string
/// (`"2025-01-01"`); anything else is kept as text and refused after
/// parsing, so the error can name the rule.
enum DateValue {
    Valid(Date),
    Invalid(String),
}

impl<'de> Deserialize<'de> for DateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DateValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateValue, E> {
                Ok(match source::parse_date(s) {
                    Some(d) => DateValue::Valid(d),
                    None => DateValue::Invalid(s.to_owned()),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<DateValue, A::Error> {
                let dt = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                let text = dt.to_string();
                Ok(match (dt.date, dt.time, dt.offset) {
                    (Some(_), None, None) => match source::parse_date(&text) {
                        Some(d) => DateValue::Valid(d),
                        None => DateValue::Invalid(text),
                    },
                    _ => DateValue::Invalid(text),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl PolicySet {
    /// Parse and validate a policy from TOML `text` against `catalogue` and
    /// `groups`; `origin` (usually the file name) is used in error messages.
    pub fn parse(
        text: &str,
        origin: &str,
        catalogue: &Catalogue,
        groups: &AgreementGroups,
    ) -> Result<PolicySet, PolicyError> {
        let raw: RawPolicy = toml::from_str(text)
            .map_err(|e| LoadError::from_toml(origin, text, &e, PolicyErrorKind::Toml))?;
        let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
        let line_of = |span: &std::ops::Range<usize>| {
            source::Location::span(origin, text, span)
                .line
                .unwrap_or_default()
        };
        let owner = raw.owner;

        let mut legal_bases = BTreeMap::new();
        for lb in raw.legal_basis {
            let code = lb.code.get_ref().clone();
            if !source::is_slug(&code) || lb.title.trim().is_empty() {
                return Err(err(&lb.code.span(), PolicyErrorKind::BadLegalBasis(code)));
            }
            if legal_bases.contains_key(&code) {
                return Err(err(
                    &lb.code.span(),
                    PolicyErrorKind::DuplicateLegalBasis(code),
                ));
            }
            legal_bases.insert(
                code.clone(),
                LegalBasis {
                    code,
                    title: lb.title,
                },
            );
        }

        let mut rules: Vec<Rule> = Vec::new();
        for rr in raw.rule {
            let id = rr.id.get_ref().clone();
            let id_span = rr.id.span();
            if !source::is_slug(&id) {
                return Err(err(&id_span, PolicyErrorKind::BadRuleId(id)));
            }
            if let Some(first) = rules.iter().find(|r| r.id == id) {
                return Err(err(
                    &id_span,
                    PolicyErrorKind::DuplicateRuleId {
                        id,
                        first_line: first.line,
                    },
                ));
            }

            // Peers.
            let peers_span = rr.peers.span();
            let raw_peers = rr.peers.into_inner();
            let mut members = BTreeSet::new();
            let group = match raw_peers.group {
                None => None,
                Some(g) => {
                    let Some(found) = groups.group(g.get_ref()) else {
                        return Err(err(
                            &g.span(),
                            PolicyErrorKind::UnknownGroup {
                                rule: id,
                                group: g.into_inner(),
                            },
                        ));
                    };
                    members.extend(found.members.iter().copied().filter(|m| *m != owner));
                    Some(g.into_inner())
                }
            };
            let mut regions = BTreeSet::new();
            for r in raw_peers.regions.unwrap_or_default() {
                let region = *r.get_ref();
                if region == owner {
                    return Err(err(
                        &r.span(),
                        PolicyErrorKind::OwnerAsPeer { rule: id, region },
                    ));
                }
                if !regions.insert(region) {
                    return Err(err(
                        &r.span(),
                        PolicyErrorKind::DuplicatePeerRegion { rule: id, region },
                    ));
                }
            }
            members.extend(regions.iter().copied());
            let national = raw_peers.national.unwrap_or(false);
            if national && owner != RegionCode::NATIONAL {
                members.insert(RegionCode::NATIONAL);
            }
            if members.is_empty() {
                return Err(err(&peers_span, PolicyErrorKind::NoPeers(id)));
            }
            let peers = Peers {
                group,
                regions,
                national,
                members,
            };

            // Purposes.
            let mut purposes = BTreeSet::new();
            for p in rr.purposes.get_ref() {
                if !purposes.insert(*p.get_ref()) {
                    return Err(err(
                        &p.span(),
                        PolicyErrorKind::DuplicatePurpose {
                            rule: id,
                            purpose: *p.get_ref(),
                        },
                    ));
                }
            }
            if purposes.is_empty() {
                return Err(err(&rr.purposes.span(), PolicyErrorKind::NoPurposes(id)));
            }
            if purposes.contains(&Purpose::UpwardReporting)
                && peers.members.iter().any(|m| !m.is_national())
            {
                return Err(err(
                    &rr.purposes.span(),
                    PolicyErrorKind::UpwardReportingToRegion(id),
                ));
            }

            // Validity.
            let date = |v: &Spanned<DateValue>, key: &'static str, id: &str| match v.get_ref() {
                DateValue::Valid(d) => Ok(*d),
                DateValue::Invalid(s) => Err(err(
                    &v.span(),
                    PolicyErrorKind::InvalidDate {
                        rule: id.to_owned(),
                        key,
                        value: s.clone(),
                    },
                )),
            };
            let valid_from = date(&rr.valid_from, "valid_from", &id)?;
            let valid_until = match &rr.valid_until {
                None => None,
                Some(v) => {
                    let until = date(v, "valid_until", &id)?;
                    if until < valid_from {
                        return Err(err(
                            &v.span(),
                            PolicyErrorKind::ValidityReversed {
                                rule: id,
                                from: source::format_date(valid_from),
                                until: source::format_date(until),
                            },
                        ));
                    }
                    Some(until)
                }
            };

            // Subject-side condition.
            let authorization = *rr.subject_authorization.get_ref();
            let mut rule_bases = BTreeSet::new();
            if let Some(list) = &rr.legal_bases {
                if authorization == AuthorizationRequirement::NotRequired
                    && !list.get_ref().is_empty()
                {
                    return Err(err(
                        &list.span(),
                        PolicyErrorKind::LegalBasesWithoutAuthorization(id),
                    ));
                }
                for code in list.get_ref() {
                    if !legal_bases.contains_key(code.get_ref()) {
                        return Err(err(
                            &code.span(),
                            PolicyErrorKind::UnknownLegalBasis {
                                rule: id,
                                code: code.get_ref().clone(),
                            },
                        ));
                    }
                    if !rule_bases.insert(code.get_ref().clone()) {
                        return Err(err(
                            &code.span(),
                            PolicyErrorKind::DuplicateRuleLegalBasis {
                                rule: id,
                                code: code.get_ref().clone(),
                            },
                        ));
                    }
                }
            }

            let consent_from = match &rr.consent_from {
                None => ConsentSource::DEFAULT.into_iter().collect(),
                Some(list) => {
                    if authorization == AuthorizationRequirement::NotRequired {
                        return Err(err(
                            &list.span(),
                            PolicyErrorKind::ConsentFromWithoutAuthorization(id),
                        ));
                    }
                    parse_consent_from(&id, list.get_ref(), &peers)
                        .map_err(|(span, kind)| err(&span, kind))?
                        .ok_or_else(|| {
                            err(&list.span(), PolicyErrorKind::EmptyConsentFrom(id.clone()))
                        })?
                }
            };

            let quota = match &rr.quota {
                None => None,
                Some(q) if q.get_ref().per_day == 0 => {
                    return Err(err(&q.span(), PolicyErrorKind::ZeroQuota(id)));
                }
                Some(q) => Some(Quota {
                    per_day: q.get_ref().per_day,
                }),
            };

            // Releases.
            if rr.release.is_empty() {
                return Err(err(&id_span, PolicyErrorKind::NoRelease(id)));
            }
            let mut releases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for rel in rr.release {
                let cat_code = rel.category.get_ref().clone();
                let Some(category) = catalogue.category(&cat_code) else {
                    return Err(err(
                        &rel.category.span(),
                        PolicyErrorKind::UnknownCategory {
                            rule: id,
                            category: cat_code,
                        },
                    ));
                };
                if releases.contains_key(&cat_code) {
                    return Err(err(
                        &rel.category.span(),
                        PolicyErrorKind::DuplicateRelease {
                            rule: id,
                            category: cat_code,
                        },
                    ));
                }
                let mut fields = BTreeSet::new();
                match rel.fields.get_ref() {
                    RawFields::AllShareable => {
                        for f in &category.fields {
                            let ok = match f.class {
                                SensitivityClass::Public | SensitivityClass::Shared => true,
                                SensitivityClass::Restricted => {
                                    authorization == AuthorizationRequirement::Required
                                }
                                SensitivityClass::Internal => false,
                            };
                            if ok {
                                fields.insert(f.code.clone());
                            }
                        }
                    }
                    RawFields::List(list) => {
                        for f in list {
                            let code = f.get_ref().clone();
                            let Some(field) = category.field(&code) else {
                                return Err(err(
                                    &f.span(),
                                    PolicyErrorKind::UnknownField {
                                        rule: id,
                                        category: cat_code,
                                        field: code,
                                    },
                                ));
                            };
                            match field.class {
                                SensitivityClass::Internal => {
                                    return Err(err(
                                        &f.span(),
                                        PolicyErrorKind::InternalField {
                                            rule: id,
                                            category: cat_code,
                                            field: code,
                                        },
                                    ));
                                }
                                SensitivityClass::Restricted
                                    if authorization == AuthorizationRequirement::NotRequired =>
                                {
                                    return Err(err(
                                        &f.span(),
                                        PolicyErrorKind::RestrictedWithoutAuthorization {
                                            rule: id,
                                            category: cat_code,
                                            field: code,
                                        },
                                    ));
                                }
                                _ => {}
                            }
                            if !fields.insert(code.clone()) {
                                return Err(err(
                                    &f.span(),
                                    PolicyErrorKind::DuplicateReleaseField {
                                        rule: id,
                                        category: cat_code,
                                        field: code,
                                    },
                                ));
                            }
                        }
                    }
                }
                if fields.is_empty() {
                    return Err(err(
                        &rel.fields.span(),
                        PolicyErrorKind::EmptyRelease {
                            rule: id,
                            category: cat_code,
                        },
                    ));
                }
                releases.insert(cat_code, fields);
            }

            let rule = Rule {
                id,
                line: line_of(&id_span),
                peers,
                purposes,
                valid_from,
                valid_until,
                authorization,
                legal_bases: rule_bases,
                consent_from,
                quota,
                releases,
            };
            if let Some(kind) = rules
                .iter()
                .find_map(|earlier| contradiction(earlier, &rule))
            {
                return Err(err(&id_span, kind));
            }
            rules.push(rule);
        }

        rules.sort_by(|a, b| a.id.cmp(&b.id));
        let hash = canonical_hash(owner, &legal_bases, &rules, catalogue);
        Ok(PolicySet {
            owner,
            origin: origin.to_owned(),
            legal_bases,
            rules,
            catalogue: catalogue.clone(),
            hash,
        })
    }

    /// Read and parse a policy file.
    pub fn load_file(
        path: impl AsRef<Path>,
        catalogue: &Catalogue,
        groups: &AgreementGroups,
    ) -> Result<PolicySet, PolicyError> {
        let (text, origin) = source::read_text(path.as_ref(), PolicyErrorKind::Read)?;
        PolicySet::parse(&text, &origin, catalogue, groups)
    }

    /// The region whose data this policy governs.
    pub fn owner(&self) -> RegionCode {
        self.owner
    }

    /// The origin name it was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Its rules, ordered by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with `id`.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The legal bases it defines, by code.
    pub fn legal_bases(&self) -> &BTreeMap<String, LegalBasis> {
        &self.legal_bases
    }

    /// The catalogue it was validated against.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The canonical content hash: SHA-256 over the canonical encoding of the
    /// parsed policy (rules sorted by id, sets sorted, group membership
    /// resolved, `all_shareable` expanded) and the catalogue's hash. Comments,
    /// whitespace and order in the file do not change it.
    pub fn policy_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`PolicySet::policy_hash`] as lowercase hex.
    pub fn policy_hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// A rule's `consent_from` entries, checked against its peers; `None` when
/// the list is empty. An error carries the offending entry's span.
fn parse_consent_from(
    rule: &str,
    entries: &[Spanned<String>],
    peers: &Peers,
) -> Result<Option<BTreeSet<ConsentSource>>, (std::ops::Range<usize>, PolicyErrorKind)> {
    let mut sources = BTreeSet::new();
    for entry in entries {
        let rule = rule.to_owned();
        let source: ConsentSource = entry.get_ref().parse().map_err(|error| {
            (
                entry.span(),
                PolicyErrorKind::BadConsentSource {
                    rule: rule.clone(),
                    error,
                },
            )
        })?;
        if let ConsentSource::Named(authority) = &source
            && peers.contains(authority.region)
        {
            let authority = authority.clone();
            return Err((
                entry.span(),
                PolicyErrorKind::ConsentFromPeer { rule, authority },
            ));
        }
        if sources.contains(&source) {
            return Err((
                entry.span(),
                PolicyErrorKind::DuplicateConsentSource {
                    rule,
                    entry: source,
                },
            ));
        }
        sources.insert(source);
    }
    Ok((!sources.is_empty()).then_some(sources))
}

/// A contradiction between an earlier rule `a` and a later rule `b`, if any.
fn contradiction(a: &Rule, b: &Rule) -> Option<PolicyErrorKind> {
    if a.authorization == b.authorization
        && a.legal_bases == b.legal_bases
        && a.consent_from == b.consent_from
    {
        return None;
    }
    let peer = *a.peers.members.intersection(&b.peers.members).next()?;
    let purpose = *a.purposes.intersection(&b.purposes).next()?;
    let category = a
        .releases
        .keys()
        .find(|c| b.releases.contains_key(*c))?
        .clone();
    let day = a.overlaps_in_time(b)?;
    let detail = if a.authorization != b.authorization {
        format!(
            "subject_authorization is {:?} in one and {:?} in the other",
            a.authorization.as_str(),
            b.authorization.as_str()
        )
    } else if a.legal_bases != b.legal_bases {
        format!(
            "legal_bases differ ({:?} vs {:?})",
            a.legal_bases, b.legal_bases
        )
    } else {
        let list = |r: &Rule| {
            r.consent_from
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("consent_from differs ([{}] vs [{}])", list(a), list(b))
    };
    Some(PolicyErrorKind::Contradiction(Box::new(Contradiction {
        rule: b.id.clone(),
        other: a.id.clone(),
        other_line: a.line,
        peer,
        purpose,
        category,
        day: source::format_date(day),
        detail,
    })))
}

fn canonical_hash(
    owner: RegionCode,
    legal_bases: &BTreeMap<String, LegalBasis>,
    rules: &[Rule],
    catalogue: &Catalogue,
) -> [u8; 32] {
    let mut c = Canon::new("credex/policy-set/v1");
    c.bytes(&catalogue.content_hash());
    c.u32(owner.as_u32());
    c.len(legal_bases.len());
    for lb in legal_bases.values() {
        c.str(&lb.code).str(&lb.title);
    }
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    c.len(sorted.len());
    for r in sorted {
        c.str(&r.id);
        match &r.peers.group {
            None => c.u8(0),
            Some(g) => c.u8(1).str(g),
        };
        c.len(r.peers.regions.len());
        for region in &r.peers.regions {
            c.u32(region.as_u32());
        }
        c.bool(r.peers.national);
        c.len(r.peers.members.len());
        for m in &r.peers.members {
            c.u32(m.as_u32());
        }
        let tags: BTreeSet<u8> = r.purposes.iter().map(|p| p.tag()).collect();
        c.len(tags.len());
        for t in tags {
            c.u8(t);
        }
        c.date(r.valid_from);
        match r.valid_until {
            None => c.u8(0),
            Some(d) => c.u8(1).date(d),
        };
        c.u8(r.authorization.tag());
        c.len(r.legal_bases.len());
        for lb in &r.legal_bases {
            c.str(lb);
        }
        c.len(r.consent_from.len());
        for source in &r.consent_from {
            source.hash_into(&mut c);
        }
        match r.quota {
            None => c.u8(0),
            Some(q) => c.u8(1).u64(q.per_day),
        };
        c.len(r.releases.len());
        for (cat, fields) in &r.releases {
            c.str(cat).len(fields.len());
            for f in fields {
                c.str(f);
            }
        }
    }
    c.finish()
}
