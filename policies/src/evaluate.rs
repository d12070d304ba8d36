//! Policy evaluation (策略判定): a pure function from a request, a policy
//! set, the time and the peer's quota usage to a [`ReleaseDecision`]. The
//! node runs it before reading any record; the auditor re-runs it offline on
//! the logged inputs and must get the same decision.
//!
//! How a field is decided. A requested field is permitted when some rule of
//! the policy (1) names the requester as a peer and lists the purpose, (2)
//! releases the field, (3) is in force on the China Standard Time day of
//! `now`, (4) is within its quota, and (5) has its subject-side condition met:
//! either it does not require authorization (never the case for `restricted`
//! fields), or the request's subject authorization is in its window at `now`,
//! was signed by an authority the rule's `consent_from` accepts, and covers
//! the requester region, the purpose and the field's category, or
//! — for fields that are not `restricted` — the request cites a legal basis
//! the rule accepts. `internal` fields are never permitted. Everything else
//! is withheld with the reason of the furthest step any rule reached.
//!
//! Outcome: [`Outcome::Granted`] when every requested field is permitted
//! (reason [`ReasonCode::Granted`]); [`Outcome::Trimmed`] when a non-empty
//! strict subset is (reason [`ReasonCode::Trimmed`]; each withheld field's own
//! reason is in [`ReleaseDecision::withheld_detail`] — e.g. a category the
//! subject's authorization does not cover is withheld with
//! [`ReasonCode::AuthorizationOutOfScope`] while the others are released);
//! [`Outcome::Denied`] when nothing is, with the reason of the field that got
//! furthest (ranked by [`ReasonCode::rank`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use credex_protocol::RegionCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, OffsetDateTime};

use crate::catalogue::{Category, Record, SensitivityClass, SubjectKind};
use crate::consent::ConsentAuthority;
use crate::policy::{AuthorizationRequirement, PolicySet, Purpose, Rule, china_date};

/// The scope of a data subject's electronic authorization (电子授权), as
/// already verified by the caller (signature, signer, revocation, uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationScope {
    /// The region the subject authorized to receive the data (被授权方).
    pub grantee_region: RegionCode,
    /// Purposes the subject consented to.
    pub purposes: Vec<Purpose>,
    /// Category codes the subject consented to release.
    pub categories: Vec<String>,
    /// Start of validity, inclusive.
    pub not_before: OffsetDateTime,
    /// End of validity, inclusive.
    pub not_after: OffsetDateTime,
    /// The authority that signed it (already verified, and never one of the
    /// requesting region: `credex-pki` refuses those).
    pub authority: ConsentAuthority,
}

impl AuthorizationScope {
    /// Whether `now` is within `[not_before, not_after]`.
    pub fn in_window(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether the scope covers `region` receiving `category` for `purpose`.
    pub fn covers(&self, region: RegionCode, purpose: Purpose, category: &str) -> bool {
        self.grantee_region == region
            && self.purposes.contains(&purpose)
            && self.categories.iter().any(|c| c == category)
    }
}

/// A peer's request for a subject's records, as the policy sees it. The
/// subject itself is not needed to decide and is not part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// The requesting region, from its authenticated certificate.
    pub requester_region: RegionCode,
    /// The declared purpose.
    pub purpose: Purpose,
    /// Whether the subject is a legal or a natural person.
    pub subject_kind: SubjectKind,
    /// Requested (category, fields). Duplicates are merged; categories with
    /// no fields are ignored.
    pub requested: Vec<(String, Vec<String>)>,
    /// The subject's authorization, already signature-verified by the caller.
    pub subject_authorization: Option<AuthorizationScope>,
    /// A cited legal basis code (法定依据), if any.
    pub legal_basis: Option<String>,
}

/// How many requests this peer already made in the current quota window (the
/// China Standard Time day of `now`, see [`QuotaUsage::window`]). The node
/// keeps the counter; evaluation only reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Requests evaluated for this peer earlier in the window, whatever their
    /// outcome; the current request is not included.
    pub requests_in_window: u64,
}

impl QuotaUsage {
    /// The quota window `now` falls in: its China Standard Time calendar day.
    pub fn window(now: OffsetDateTime) -> Option<Date> {
        china_date(now)
    }
}

/// Whether the request is granted, trimmed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything requested may be released.
    Granted,
    /// A non-empty strict subset may be released.
    Trimmed,
    /// Nothing may be released.
    Denied,
}

/// Why a decision came out as it did. The numbers never change meaning and
/// are the same as those of the wire's
/// [`credex_protocol::query::QueryReason`], which adds the reasons decided
/// before the policy (signatures, roles, replay…); `From` converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    /// 0: everything requested is permitted.
    Granted,
    /// 1: some of the request is permitted; see the withheld fields' reasons.
    Trimmed,
    /// 18: no rule for this peer and purpose releases the field (including
    /// every `internal` field).
    PolicyDenied,
    /// 17: the field needs the subject's authorization and the request has
    /// neither an authorization nor a legal basis.
    NoAuthorizationNoLegalBasis,
    /// 16: the authorization does not cover the requester region, the purpose
    /// or the category.
    AuthorizationOutOfScope,
    /// 32: the authorization was signed by an authority the rule's
    /// `consent_from` does not accept.
    ConsentAuthorityNotAccepted,
    /// 15: `now` is outside the authorization's validity window.
    AuthorizationExpired,
    /// 22: the cited legal basis is not accepted by the rules releasing the
    /// field (or the field is `restricted`, where no legal basis suffices).
    LegalBasisNotAccepted,
    /// 19: every rule that would release the field has used up the peer's quota.
    QuotaExceeded,
    /// 23: a requested category or field is not in the catalogue.
    UnknownCategoryOrField,
    /// 28: the category does not hold records of this kind of subject.
    SubjectKindMismatch,
    /// 29: rules exist for the field, but none is in force on this day.
    RuleNotInForce,
    /// 30: the request names no field.
    EmptyRequest,
}

impl ReasonCode {
    /// Every code.
    pub const ALL: [ReasonCode; 13] = [
        ReasonCode::Granted,
        ReasonCode::Trimmed,
        ReasonCode::PolicyDenied,
        ReasonCode::NoAuthorizationNoLegalBasis,
        ReasonCode::AuthorizationOutOfScope,
        ReasonCode::AuthorizationExpired,
        ReasonCode::LegalBasisNotAccepted,
        ReasonCode::QuotaExceeded,
        ReasonCode::UnknownCategoryOrField,
        ReasonCode::SubjectKindMismatch,
        ReasonCode::RuleNotInForce,
        ReasonCode::EmptyRequest,
        ReasonCode::ConsentAuthorityNotAccepted,
    ];

    /// The number carried on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            ReasonCode::Granted => 0,
            ReasonCode::Trimmed => 1,
            ReasonCode::PolicyDenied => 18,
            ReasonCode::NoAuthorizationNoLegalBasis => 17,
            ReasonCode::AuthorizationOutOfScope => 16,
            ReasonCode::AuthorizationExpired => 15,
            ReasonCode::LegalBasisNotAccepted => 22,
            ReasonCode::QuotaExceeded => 19,
            ReasonCode::UnknownCategoryOrField => 23,
            ReasonCode::SubjectKindMismatch => 28,
            ReasonCode::RuleNotInForce => 29,
            ReasonCode::EmptyRequest => 30,
            ReasonCode::ConsentAuthorityNotAccepted => 32,
        }
    }

    /// The code for a wire number, if this version knows it.
    pub fn from_u16(n: u16) -> Option<Self> {
        ReasonCode::ALL.into_iter().find(|c| c.as_u16() == n)
    }

    /// A short stable name, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            ReasonCode::Granted => "granted",
            ReasonCode::Trimmed => "trimmed",
            ReasonCode::PolicyDenied => "policy_denied",
            ReasonCode::NoAuthorizationNoLegalBasis => "no_authorization_no_legal_basis",
            ReasonCode::AuthorizationOutOfScope => "authorization_out_of_scope",
            ReasonCode::AuthorizationExpired => "authorization_expired",
            ReasonCode::LegalBasisNotAccepted => "legal_basis_not_accepted",
            ReasonCode::QuotaExceeded => "quota_exceeded",
            ReasonCode::UnknownCategoryOrField => "unknown_category_or_field",
            ReasonCode::SubjectKindMismatch => "subject_kind_mismatch",
            ReasonCode::RuleNotInForce => "rule_not_in_force",
            ReasonCode::EmptyRequest => "empty_request",
            ReasonCode::ConsentAuthorityNotAccepted => "consent_authority_not_accepted",
        }
    }

    /// How far along the decision a withheld field got: when nothing is
    /// permitted, the decision reports the reason with the highest rank —
    /// the one closest to being released, which is the most useful to the
    /// requester. Unknown names rank lowest, an expired authorization highest.
    pub fn rank(self) -> u8 {
        match self {
            ReasonCode::EmptyRequest => 0,
            ReasonCode::UnknownCategoryOrField => 1,
            ReasonCode::SubjectKindMismatch => 2,
            ReasonCode::PolicyDenied => 3,
            ReasonCode::RuleNotInForce => 4,
            ReasonCode::QuotaExceeded => 5,
            ReasonCode::NoAuthorizationNoLegalBasis => 6,
            ReasonCode::LegalBasisNotAccepted => 7,
            ReasonCode::ConsentAuthorityNotAccepted => 8,
            ReasonCode::AuthorizationOutOfScope => 9,
            ReasonCode::AuthorizationExpired => 10,
            ReasonCode::Trimmed => 11,
            ReasonCode::Granted => 12,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u16())
    }
}

impl From<ReasonCode> for credex_protocol::query::QueryReason {
    fn from(r: ReasonCode) -> Self {
        credex_protocol::query::QueryReason::from_u16(r.as_u16())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u16::deserialize(d)?;
        ReasonCode::from_u16(n)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code {n}")))
    }
}

/// A requested field that is not released, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WithheldField {
    /// The category code.
    pub category: String,
    /// The field code.
    pub field: String,
    /// Why it is withheld.
    pub reason: ReasonCode,
}

/// The decision on one request (放行决定): what may be released, what is
/// withheld and why, the policy hash and the rules used. Only [`evaluate`]
/// builds one, so holding one proves the policy was consulted; records leave
/// the node only through [`ReleaseDecision::project`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseDecision {
    outcome: Outcome,
    reason: ReasonCode,
    permitted: Vec<(String, Vec<String>)>,
    withheld: Vec<(String, Vec<String>)>,
    withheld_detail: Vec<WithheldField>,
    policy_hash: [u8; 32],
    rule_ids: Vec<String>,
}

impl ReleaseDecision {
    /// Granted, trimmed or denied.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The reason code.
    pub fn reason(&self) -> ReasonCode {
        self.reason
    }

    /// Exactly what may be released: (category, fields), both sorted.
    pub fn permitted(&self) -> &[(String, Vec<String>)] {
        &self.permitted
    }

    /// What was requested and is withheld: (category, fields), both sorted.
    pub fn withheld(&self) -> &[(String, Vec<String>)] {
        &self.withheld
    }

    /// Each withheld field with its own reason.
    pub fn withheld_detail(&self) -> &[WithheldField] {
        &self.withheld_detail
    }

    /// The hash of the policy set decided against.
    pub fn policy_hash(&self) -> [u8; 32] {
        self.policy_hash
    }

    /// The ids of the rules that permitted at least one field, sorted.
    pub fn rule_ids(&self) -> &[String] {
        &self.rule_ids
    }

    /// Whether `field` of `category` may be released.
    pub fn is_permitted(&self, category: &str, field: &str) -> bool {
        self.permitted
            .iter()
            .any(|(c, fs)| c == category && fs.iter().any(|f| f == field))
    }

    /// The record reduced to the permitted fields of its category: nothing
    /// else can leave the node. A record of a category with no permitted
    /// field comes back with no fields.
    pub fn project(&self, record: &Record) -> Record {
        Record {
            category: record.category.clone(),
            fields: record
                .fields
                .iter()
                .filter(|(k, _)| self.is_permitted(&record.category, k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// [`Self::project`] on a record the caller owns: the fields not
    /// permitted are dropped and the rest are moved, not copied.
    pub fn project_owned(&self, mut record: Record) -> Record {
        let category = &record.category;
        record
            .fields
            .retain(|field, _| self.is_permitted(category, field));
        record
    }
}

/// The authorization's state at `now`.
enum Authorization<'a> {
    Absent,
    Expired,
    Valid(&'a AuthorizationScope),
}

/// Decide which of the requested fields `policy` lets the requester have at
/// `now`, given the peer's quota usage in the current window. Pure: same
/// inputs, same decision.
pub fn evaluate(
    request: &AccessRequest,
    policy: &PolicySet,
    now: OffsetDateTime,
    usage: &QuotaUsage,
) -> ReleaseDecision {
    let requested = requested_fields(request);
    let judge = FieldJudge {
        request,
        policy,
        candidates: policy
            .rules()
            .iter()
            .filter(|r| {
                r.peers().contains(request.requester_region)
                    && r.purposes().contains(&request.purpose)
            })
            .collect(),
        today: china_date(now),
        usage,
        authorization: match &request.subject_authorization {
            None => Authorization::Absent,
            Some(a) if a.in_window(now) => Authorization::Valid(a),
            Some(_) => Authorization::Expired,
        },
    };

    let mut permitted = Vec::new();
    let mut withheld = Vec::new();
    let mut withheld_detail = Vec::new();
    let mut rule_ids = BTreeSet::new();
    for (category_code, fields) in &requested {
        let category = policy.catalogue().category(category_code);
        let mut ok_fields = Vec::new();
        let mut bad_fields = Vec::new();
        for field_code in fields {
            match judge.verdict(category_code, category, field_code) {
                Ok(ids) => {
                    rule_ids.extend(ids);
                    ok_fields.push((*field_code).to_owned());
                }
                Err(reason) => {
                    bad_fields.push((*field_code).to_owned());
                    withheld_detail.push(WithheldField {
                        category: (*category_code).to_owned(),
                        field: (*field_code).to_owned(),
                        reason,
                    });
                }
            }
        }
        if !ok_fields.is_empty() {
            permitted.push(((*category_code).to_owned(), ok_fields));
        }
        if !bad_fields.is_empty() {
            withheld.push(((*category_code).to_owned(), bad_fields));
        }
    }

    let (outcome, reason) = overall(
        requested.is_empty(),
        &permitted,
        &withheld,
        &withheld_detail,
    );
    ReleaseDecision {
        outcome,
        reason,
        permitted,
        withheld,
        withheld_detail,
        policy_hash: policy.policy_hash(),
        rule_ids: rule_ids.into_iter().map(str::to_owned).collect(),
    }
}

/// The request's fields by category, without categories that name none.
fn requested_fields(request: &AccessRequest) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut requested: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (category, fields) in &request.requested {
        if !fields.is_empty() {
            requested
                .entry(category.as_str())
                .or_default()
                .extend(fields.iter().map(String::as_str));
        }
    }
    requested
}

/// What each requested field of one request is judged against: the rules
/// for this peer and purpose, the day in China, the quota usage and the
/// subject's authorization at `now`.
struct FieldJudge<'a> {
    request: &'a AccessRequest,
    policy: &'a PolicySet,
    candidates: Vec<&'a Rule>,
    today: Option<Date>,
    usage: &'a QuotaUsage,
    authorization: Authorization<'a>,
}

impl<'a> FieldJudge<'a> {
    /// One field: the ids of the rules that release it, or why it is
    /// withheld (unknown, another kind of subject, internal, or the
    /// furthest step a candidate rule reached).
    fn verdict(
        &self,
        category_code: &str,
        category: Option<&Category>,
        field_code: &str,
    ) -> Result<Vec<&'a str>, ReasonCode> {
        match category {
            None => Err(ReasonCode::UnknownCategoryOrField),
            Some(c) if !c.applies_to(self.request.subject_kind) => {
                Err(ReasonCode::SubjectKindMismatch)
            }
            Some(c) => match c.field(field_code) {
                None => Err(ReasonCode::UnknownCategoryOrField),
                Some(f) if f.class == SensitivityClass::Internal => Err(ReasonCode::PolicyDenied),
                Some(f) => decide_field(
                    self.request,
                    self.policy.owner(),
                    &self.candidates,
                    category_code,
                    field_code,
                    f.class,
                    self.today,
                    self.usage,
                    &self.authorization,
                ),
            },
        }
    }
}

/// The decision's outcome and reason: denied when nothing was asked,
/// granted when nothing is withheld, trimmed when something is permitted,
/// else denied for the gravest reason a field was withheld.
fn overall(
    nothing_requested: bool,
    permitted: &[(String, Vec<String>)],
    withheld: &[(String, Vec<String>)],
    withheld_detail: &[WithheldField],
) -> (Outcome, ReasonCode) {
    if nothing_requested {
        (Outcome::Denied, ReasonCode::EmptyRequest)
    } else if withheld.is_empty() {
        (Outcome::Granted, ReasonCode::Granted)
    } else if !permitted.is_empty() {
        (Outcome::Trimmed, ReasonCode::Trimmed)
    } else {
        let worst = withheld_detail
            .iter()
            .map(|w| w.reason)
            .max_by_key(|r| r.rank())
            .unwrap_or(ReasonCode::PolicyDenied);
        (Outcome::Denied, worst)
    }
}

/// Decide one known, non-internal field: the ids of the rules that permit it,
/// or the reason of the furthest step any candidate rule reached.
#[allow(clippy::too_many_arguments)]
fn decide_field<'r>(
    request: &AccessRequest,
    owner: RegionCode,
    candidates: &[&'r Rule],
    category: &str,
    field: &str,
    class: SensitivityClass,
    today: Option<Date>,
    usage: &QuotaUsage,
    authorization: &Authorization<'_>,
) -> Result<Vec<&'r str>, ReasonCode> {
    let releasing: Vec<&Rule> = candidates
        .iter()
        .copied()
        .filter(|r| r.releases_field(category, field))
        .collect();
    if releasing.is_empty() {
        return Err(ReasonCode::PolicyDenied);
    }
    let in_force: Vec<&Rule> = releasing
        .into_iter()
        .filter(|r| today.is_some_and(|d| r.in_force_on(d)))
        .collect();
    if in_force.is_empty() {
        return Err(ReasonCode::RuleNotInForce);
    }
    let usable: Vec<&Rule> = in_force
        .into_iter()
        .filter(|r| {
            r.quota()
                .is_none_or(|q| usage.requests_in_window < q.per_day)
        })
        .collect();
    if usable.is_empty() {
        return Err(ReasonCode::QuotaExceeded);
    }
    let mut ok = Vec::new();
    let mut best: Option<ReasonCode> = None;
    for rule in usable {
        match subject_side(request, owner, rule, category, class, authorization) {
            Ok(()) => ok.push(rule.id()),
            Err(r) => {
                if best.is_none_or(|b| r.rank() > b.rank()) {
                    best = Some(r);
                }
            }
        }
    }
    if ok.is_empty() {
        Err(best.unwrap_or(ReasonCode::PolicyDenied))
    } else {
        Ok(ok)
    }
}

/// Whether the subject-side condition of `rule` is met for one field.
fn subject_side(
    request: &AccessRequest,
    owner: RegionCode,
    rule: &Rule,
    category: &str,
    class: SensitivityClass,
    authorization: &Authorization<'_>,
) -> Result<(), ReasonCode> {
    // A restricted field always needs the subject's authorization, whatever
    // the rule says (the loader already refuses the contrary).
    let needs_authorization = class == SensitivityClass::Restricted
        || rule.authorization() == AuthorizationRequirement::Required;
    if !needs_authorization {
        return Ok(());
    }
    let authorization_failure = match authorization {
        Authorization::Valid(a) => {
            if !rule.accepts_consent_from(&a.authority, owner) {
                Some(ReasonCode::ConsentAuthorityNotAccepted)
            } else if a.covers(request.requester_region, request.purpose, category) {
                return Ok(());
            } else {
                Some(ReasonCode::AuthorizationOutOfScope)
            }
        }
        Authorization::Expired => Some(ReasonCode::AuthorizationExpired),
        Authorization::Absent => None,
    };
    let legal_basis_failure = match &request.legal_basis {
        Some(lb) => {
            if class != SensitivityClass::Restricted && rule.legal_bases().contains(lb) {
                return Ok(());
            }
            Some(ReasonCode::LegalBasisNotAccepted)
        }
        None => None,
    };
    Err(authorization_failure
        .or(legal_basis_failure)
        .unwrap_or(ReasonCode::NoAuthorizationNoLegalBasis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip_and_are_distinct() {
        let mut seen = BTreeSet::new();
        for c in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_u16(c.as_u16()), Some(c));
            assert!(seen.insert(c.as_u16()));
            assert!(!c.name().is_empty());
        }
        assert_eq!(ReasonCode::from_u16(999), None);
        let ranks: BTreeSet<u8> = ReasonCode::ALL.iter().map(|c| c.rank()).collect();
        assert_eq!(ranks.len(), ReasonCode::ALL.len());
    }

    #[test]
    fn reason_codes_match_the_wire_reasons() {
        use credex_protocol::query::QueryReason;
        for c in ReasonCode::ALL {
            let wire = QueryReason::from(c);
            assert_eq!(wire.as_u16(), c.as_u16());
            assert_eq!(wire.name(), c.name(), "{c:?} is {wire:?} on the wire");
        }
    }
}
