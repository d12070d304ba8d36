//! Why a policy file failed to load: one [`PolicyErrorKind`] variant per
//! load-time rule, each naming the rule and what is wrong; the file and line
//! come from [`LoadError`].
//!
//! Owns: the error types. Does not own the checks that raise them
//! ([`super::validate`], [`super::contradiction`]).

use credex_protocol::RegionCode;

use super::Purpose;
use crate::consent::{BadConsentSource, ConsentAuthority, ConsentSource};
use crate::source::LoadError;

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
