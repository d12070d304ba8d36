//! The responder's decision on a query, as its sharing policy sees it: the
//! node's query pipeline and the auditor's re-run both build the policy's
//! input here, and rebuild a logged policy set here, so they cannot
//! disagree.

use credex_pki::authorization::VerifiedSubjectAuthorization;
use credex_policies::{
    AccessRequest, AgreementGroups, AuthorizationScope, Catalogue, PolicySet, Purpose, SubjectKind,
};
use credex_protocol::RegionCode;
use credex_protocol::query::{AuthorizedQuery, QueryReason, SubjectRef};

use crate::calendar::ms_time;

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
