//! One received access, alone: its dual-authorization bundle is the one
//! the entry names, and a release had a valid dual authorization at the
//! time and was permitted by the policy the entry names. What only the
//! sequence of releases shows is [`crate::replay`]'s.

use std::collections::HashMap;
use std::path::Path;

use credex_pki::TrustStore;
use credex_pki::authorization::{
    AuthorizationVerified, QueryContext, query_digest, verify_authorized_query,
};
use credex_policies::ReleaseDecision;
use credex_protocol::RegionCode;
use credex_protocol::query::{AuthorizedQuery, Outcome};

use crate::replay::ReleaseFacts;
use crate::tiles::read_bounded;
use crate::verify::Violation;
use credex_flows::calendar::unix_time;
use credex_journal::AccessEntry;

/// A received access: its bundle must be the one logged, and a release
/// must have had a valid dual authorization at the time and be permitted by
/// the policy it names. Returns the violations and, for a release that
/// passed, what the sequence checks need ([`check_sequence`]).
pub(crate) fn check_received(
    trust: &TrustStore,
    dir: &Path,
    origin: &str,
    region: RegionCode,
    index: u64,
    e: &AccessEntry,
    policies: &HashMap<[u8; 32], credex_policies::PolicySet>,
) -> (Vec<Violation>, Option<ReleaseFacts>) {
    let violation = |(rule, detail): Finding| Violation {
        log: origin.to_owned(),
        index: Some(index),
        rule,
        detail,
        access: Some(hex::encode(e.query_digest)),
    };
    let released = e.outcome != Outcome::Denied;
    let checked = stored_bundle(dir, e, released).and_then(|q| match q {
        Some(q) if released => {
            let verified = authorized_at_access_time(trust, region, e, &q)?;
            let policy = named_policy(policies, e)?;
            rerun_decision(&q, &verified, e, policy).map(Some)
        }
        _ => Ok(None),
    });
    match checked {
        Err(finding) => (vec![violation(finding)], None),
        Ok(None) => (Vec::new(), None),
        Ok(Some((decision, facts))) => {
            let found = fields_outside_policy(e, &decision).map(violation).collect();
            (found, Some(facts))
        }
    }
}

/// A broken rule and what was found, before it is placed in a log.
type Finding = (&'static str, String);

/// The dual-authorization bundle the entry names, from the export's
/// attachments: it must be there for a release, and it must hash to the
/// entry's digest. `None`: a denial whose bundle was not kept.
fn stored_bundle(
    dir: &Path,
    e: &AccessEntry,
    released: bool,
) -> Result<Option<AuthorizedQuery>, Finding> {
    let path = dir.join(format!("attachments/{}", hex::encode(e.query_digest)));
    let bundle = match read_bounded(&path) {
        Ok(b) => b,
        Err(_) if !released => return Ok(None),
        Err(err) => {
            return Err((
                "bundle_missing",
                format!(
                    "dual-authorization bundle {}: {err}",
                    hex::encode(e.query_digest)
                ),
            ));
        }
    };
    let q: AuthorizedQuery =
        credex_protocol::decode(&bundle).map_err(|err| ("bundle_format", err.to_string()))?;
    if query_digest(&q).ok() != Some(e.query_digest) {
        return Err((
            "bundle_mismatch",
            "the stored bundle does not hash to the digest in the entry".into(),
        ));
    }
    Ok(Some(q))
}

/// The release's dual authorization, verified as of the access time.
fn authorized_at_access_time(
    trust: &TrustStore,
    region: RegionCode,
    e: &AccessEntry,
    q: &AuthorizedQuery,
) -> Result<AuthorizationVerified, Finding> {
    let ctx = QueryContext {
        responder_region: region,
        peer_region: e.requester_region,
        peer_node: e.requester_node.clone(),
        now: unix_time(e.at_ms),
        max_clock_skew_ms: i64::MAX / 4,
    };
    verify_authorized_query(q, trust, &ctx).map_err(|err| {
        (
            "release_without_dual_authorization",
            format!("{:?} with {}: {err}", e.outcome, err.reason()),
        )
    })
}

/// The archived policy the entry says it released under.
fn named_policy<'p>(
    policies: &'p HashMap<[u8; 32], credex_policies::PolicySet>,
    e: &AccessEntry,
) -> Result<&'p credex_policies::PolicySet, Finding> {
    policies.get(&e.policy_hash).ok_or_else(|| {
        (
            "policy_unknown",
            format!(
                "released under policy {} which this log does not archive",
                hex::encode(e.policy_hash)
            ),
        )
    })
}

/// The decision the node made, re-run under the policy the entry names,
/// quota aside: usage is not known per entry, so the sequence checks count
/// it (crate::replay). Returns the policy's release decision and the facts
/// the sequence checks need.
fn rerun_decision(
    q: &AuthorizedQuery,
    verified: &AuthorizationVerified,
    e: &AccessEntry,
    policy: &credex_policies::PolicySet,
) -> Result<(ReleaseDecision, ReleaseFacts), Finding> {
    let decided = credex_flows::query::decide(q, verified, e.requester_region, policy, 0, e.at_ms);
    let Some(decision) = decided.release else {
        return Err((
            "released_outside_policy",
            format!(
                "released although the request is invalid ({})",
                decided.reason
            ),
        ));
    };
    let facts = ReleaseFacts {
        requester: (q.request.requester_region, q.request.requester_node.clone()),
        nonce: q.request.nonce,
        issued_at_ms: q.request.issued_at_ms,
        authorization: decided.authorization_use,
        quota: decided
            .quota
            .map(|c| (e.requester_region, c.window_start_ms, c.per_day)),
    };
    Ok((decision, facts))
}

/// Every released field the re-run decision does not permit.
fn fields_outside_policy<'a>(
    e: &'a AccessEntry,
    decision: &'a ReleaseDecision,
) -> impl Iterator<Item = Finding> + 'a {
    e.released.iter().flat_map(move |c| {
        c.fields
            .iter()
            .filter(|f| !decision.is_permitted(&c.category, f))
            .map(move |f| {
                (
                    "released_outside_policy",
                    format!(
                        "{}.{f} was released, but policy {} does not permit it for this request",
                        c.category,
                        hex::encode(&e.policy_hash[..8])
                    ),
                )
            })
    })
}
