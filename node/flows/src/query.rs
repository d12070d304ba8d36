//! The responder's decision on a query, as its sharing policy sees it: the
//! node's query pipeline and the auditor's re-run both build the policy's
//! input here, and rebuild a logged policy set here, so they cannot
//! disagree.

use credex_pki::authorization::{AuthorizationVerified, VerifiedSubjectAuthorization};
use credex_policies::{
    AccessRequest, AgreementGroups, AuthorizationScope, Catalogue, PolicySet, Purpose, QuotaUsage,
    ReleaseDecision, SubjectKind, evaluate,
};
use credex_protocol::RegionCode;
use credex_protocol::query::{AuthorizedQuery, CategoryFields, Outcome, QueryReason, SubjectRef};

use crate::calendar::{ms_time, quota_window_start_ms};

/// Why the node's policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    /// The supplementary catalogue is invalid.
    #[error(transparent)]
    Catalogue(#[from] credex_policies::CatalogueError),
    /// The agreement groups file is invalid.
    #[error(transparent)]
    Groups(#[from] credex_policies::GroupsError),
    /// The policy file is invalid.
    #[error(transparent)]
    Policy(#[from] credex_policies::PolicyError),
    /// The policy governs another region's data.
    #[error("{origin}: the policy's owner is {owner}, but this node is region {node}")]
    WrongOwner {
        /// The file.
        origin: String,
        /// What the policy says.
        owner: RegionCode,
        /// The node's region.
        node: RegionCode,
    },
}

/// Rebuild the policy set an archive describes, for region `owner`.
pub fn rebuild_policy(
    owner: RegionCode,
    archive: &credex_journal::PolicyArchive,
) -> Result<PolicySet, PolicyLoadError> {
    let base = Catalogue::base();
    let catalogue = match &archive.catalogue_supplement {
        Some(text) => base.with_supplement(text, "(archived supplement)")?,
        None => base,
    };
    let groups = match &archive.groups {
        Some(text) => AgreementGroups::parse(text, "(archived groups)")?,
        None => AgreementGroups::builtin(),
    };
    let text = archive
        .policy
        .clone()
        .unwrap_or_else(|| format!("owner = \"{owner}\"\n"));
    Ok(PolicySet::parse(
        &text,
        "(archived policy)",
        &catalogue,
        &groups,
    )?)
}

/// The policy's view of a query: what `credex_policies::evaluate` decides
/// on. `consent` is the subject authorization, already verified. The node and
/// the auditor build it the same way.
pub fn policy_request(
    q: &AuthorizedQuery,
    requester_region: RegionCode,
    consent: Option<&VerifiedSubjectAuthorization>,
) -> Result<AccessRequest, QueryReason> {
    let subject_kind = match &q.request.subject {
        SubjectRef::LegalPerson(code) => {
            if credex_policies::Uscc::parse(code).is_err() {
                return Err(QueryReason::InvalidSubject);
            }
            SubjectKind::LegalPerson
        }
        SubjectRef::NaturalPerson(_) => SubjectKind::NaturalPerson,
    };
    let purpose = q
        .request
        .purpose
        .parse::<Purpose>()
        .map_err(|_| QueryReason::UnknownPurpose)?;
    let subject_authorization = match consent {
        None => None,
        Some(verified) => Some(authorization_scope(verified)?),
    };
    Ok(AccessRequest {
        requester_region,
        purpose,
        subject_kind,
        requested: q
            .request
            .requested
            .iter()
            .map(|c| (c.category.clone(), c.fields.clone()))
            .collect(),
        subject_authorization,
        legal_basis: q.request.legal_basis.clone(),
    })
}

/// The policy's view of a verified subject authorization: its scope and the
/// authority that signed it. The signer is always an authorization authority
/// (pki's rule 7); anything else would be a broken invariant and is refused
/// as a wrong role rather than trusted.
fn authorization_scope(
    verified: &VerifiedSubjectAuthorization,
) -> Result<AuthorizationScope, QueryReason> {
    let auth = verified.authorization();
    let credex_pki::Subject::Authority { region, name } = verified.signer().subject.clone() else {
        return Err(QueryReason::WrongRole);
    };
    Ok(AuthorizationScope {
        grantee_region: auth.grantee_region,
        purposes: auth
            .purposes
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect(),
        categories: auth.categories.clone(),
        not_before: ms_time(auth.not_before_ms),
        not_after: ms_time(auth.not_after_ms),
        authority: credex_policies::ConsentAuthority { region, name },
    })
}

/// The daily quota a release counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCharge {
    /// Start of the window (midnight, China Standard Time), Unix ms.
    pub window_start_ms: i64,
    /// The smallest per-day limit of the rules that released.
    pub per_day: u64,
}

/// The responder's decision on a query whose signatures verified, before
/// anything is recorded or read: what is released and withheld, and what
/// the release consumes (one unit of a daily quota, one use of the
/// subject's authorization). The node records it and claims what it
/// consumes in one transaction; the auditor re-runs it from the log.
#[derive(Debug, Clone)]
pub struct QueryDecision {
    /// Granted, trimmed or denied.
    pub outcome: Outcome,
    /// The reason code.
    pub reason: QueryReason,
    /// Fields released.
    pub released: Vec<CategoryFields>,
    /// Fields withheld.
    pub withheld: Vec<CategoryFields>,
    /// The policy set's content hash.
    pub policy_hash: [u8; 32],
    /// The quota a release counts against (none when denied, or no rule
    /// that released has a quota).
    pub quota: Option<QuotaCharge>,
    /// The subject authorization a release uses: (id, its `max_uses`).
    pub authorization_use: Option<([u8; 16], u32)>,
    /// The policy's decision, the token reading records needs (none when
    /// the query was refused before the policy was asked).
    pub release: Option<ReleaseDecision>,
}

impl QueryDecision {
    /// A refusal for `reason` before the policy was asked: nothing released.
    pub fn denied(
        reason: QueryReason,
        q: &AuthorizedQuery,
        policy_hash: [u8; 32],
    ) -> QueryDecision {
        QueryDecision {
            outcome: Outcome::Denied,
            reason,
            released: Vec::new(),
            withheld: q.request.requested.clone(),
            policy_hash,
            quota: None,
            authorization_use: None,
            release: None,
        }
    }
}

/// Decide on `q`, asked by `peer` and verified as `verified`, under
/// `policy` at `now_ms`, with `quota_used` units of the peer's quota used
/// in the current window ([`crate::calendar::quota_window_start_ms`]).
///
/// A region that no rule of the policy names is refused as an unknown
/// peer; an invalid subject, purpose or authorization scope is refused
/// with its reason; otherwise the sharing policy decides.
pub fn decide(
    q: &AuthorizedQuery,
    verified: &AuthorizationVerified,
    peer: RegionCode,
    policy: &PolicySet,
    quota_used: u64,
    now_ms: i64,
) -> QueryDecision {
    let policy_hash = policy.policy_hash();
    // A region no rule of this policy names has no agreement with us at all.
    if !policy.rules().iter().any(|r| r.peers().contains(peer)) {
        return QueryDecision::denied(QueryReason::UnknownPeer, q, policy_hash);
    }
    let request = match policy_request(q, peer, verified.subject_authorization()) {
        Ok(r) => r,
        Err(reason) => return QueryDecision::denied(reason, q, policy_hash),
    };
    let now = ms_time(now_ms);
    let decision = evaluate(
        &request,
        policy,
        now,
        &QuotaUsage {
            requests_in_window: quota_used,
        },
    );
    let outcome = match decision.outcome() {
        credex_policies::Outcome::Granted => Outcome::Granted,
        credex_policies::Outcome::Trimmed => Outcome::Trimmed,
        credex_policies::Outcome::Denied => Outcome::Denied,
    };
    let releases = outcome != Outcome::Denied;
    let quota = releases
        .then(|| {
            decision
                .rule_ids()
                .iter()
                .filter_map(|id| policy.rule(id)?.quota())
                .map(|q| q.per_day)
                .min()
        })
        .flatten()
        .map(|per_day| QuotaCharge {
            window_start_ms: quota_window_start_ms(now),
            per_day,
        });
    let authorization_use = releases
        .then(|| verified.subject_authorization())
        .flatten()
        .map(|a| (a.id(), a.authorization().max_uses));
    QueryDecision {
        outcome,
        reason: QueryReason::from(decision.reason()),
        released: to_wire(decision.permitted()),
        withheld: to_wire(decision.withheld()),
        policy_hash: decision.policy_hash(),
        quota,
        authorization_use,
        release: Some(decision),
    }
}

fn to_wire(list: &[(String, Vec<String>)]) -> Vec<CategoryFields> {
    list.iter()
        .map(|(category, fields)| CategoryFields {
            category: category.clone(),
            fields: fields.clone(),
        })
        .collect()
}
