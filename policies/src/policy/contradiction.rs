//! The cross-rule check: two rules that apply to the same peer, purpose
//! and category on a common day must agree on the subject-side condition
//! (`subject_authorization`, `legal_bases`, `consent_from`).
//!
//! Owns: finding the first such disagreement between two rules. Does not own
//! the checks on a single rule ([`super::validate`]).

use super::{Contradiction, PolicyErrorKind, Rule};
use crate::source;

/// A contradiction between an earlier rule `a` and a later rule `b`, if any.
pub(super) fn contradiction(a: &Rule, b: &Rule) -> Option<PolicyErrorKind> {
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
