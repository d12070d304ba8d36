//! One received access, alone: its dual-authorization bundle is the one
//! the entry names, and a release had a valid dual authorization at the
//! time and was permitted by the policy the entry names. What only the
//! sequence of releases shows is [`crate::replay`]'s.

use std::collections::HashMap;
use std::path::Path;

use credex_pki::TrustStore;
use credex_pki::authorization::{QueryContext, query_digest, verify_authorized_query};
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
    let mut found = Vec::new();
    let mut violation = |rule: &'static str, detail: String| {
        found.push(Violation {
            log: origin.to_owned(),
            index: Some(index),
            rule,
            detail,
            access: Some(hex::encode(e.query_digest)),
        });
    };
    let released = e.outcome != Outcome::Denied;
    let path = dir.join(format!("attachments/{}", hex::encode(e.query_digest)));
    let bundle = match read_bounded(&path) {
        Ok(b) => b,
        Err(_) if !released => return (found, None),
        Err(err) => {
            violation(
                "bundle_missing",
                format!(
                    "dual-authorization bundle {}: {err}",
                    hex::encode(e.query_digest)
                ),
            );
            return (found, None);
        }
    };
    let q: AuthorizedQuery = match credex_protocol::decode(&bundle) {
        Ok(q) => q,
        Err(err) => {
            violation("bundle_format", err.to_string());
            return (found, None);
        }
    };
    if query_digest(&q).ok() != Some(e.query_digest) {
        violation(
            "bundle_mismatch",
            "the stored bundle does not hash to the digest in the entry".into(),
        );
        return (found, None);
    }
    if !released {
        return (found, None);
    }
    let ctx = QueryContext {
        responder_region: region,
        peer_region: e.requester_region,
        peer_node: e.requester_node.clone(),
        now: unix_time(e.at_ms),
        max_clock_skew_ms: i64::MAX / 4,
    };
    let verified = match verify_authorized_query(&q, trust, &ctx) {
        Ok(v) => v,
        Err(err) => {
            violation(
                "release_without_dual_authorization",
                format!("{:?} with {}: {err}", e.outcome, err.reason()),
            );
            return (found, None);
        }
    };
    // Re-run the decision under the policy the entry names: every
    // released field must have been permitted.
    let Some(policy) = policies.get(&e.policy_hash) else {
        violation(
            "policy_unknown",
            format!(
                "released under policy {} which this log does not archive",
                hex::encode(e.policy_hash)
            ),
        );
        return (found, None);
    };
    // The same decision the node made, quota aside: usage is not known per
    // entry, so the sequence checks count it (crate::replay).
    let decided =
        credex_flows::query::decide(&q, &verified, e.requester_region, policy, 0, e.at_ms);
    let Some(decision) = decided.release else {
        violation(
            "released_outside_policy",
            format!(
                "released although the request is invalid ({})",
                decided.reason
            ),
        );
        return (found, None);
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
    for c in &e.released {
        for f in &c.fields {
            if !decision.is_permitted(&c.category, f) {
                violation(
                    "released_outside_policy",
                    format!(
                        "{}.{f} was released, but policy {} does not permit it for this request",
                        c.category,
                        hex::encode(&e.policy_hash[..8])
                    ),
                );
            }
        }
    }
    (found, Some(facts))
}
