//! What one entry cannot show but the sequence of a log's releases can
//! (issue 13 §2): a release logged twice, a nonce used for two releases, an
//! authorization used beyond its `max_uses`, a peer's daily quota overrun,
//! and entry times that do not fit where the entry stands.
//!
//! The node enforces each of these when it decides (nonce store, use and
//! quota claims committed with the entry, decision 0008), so an honest log
//! never shows one; a log that does was edited, or its node misbehaved. The
//! checks run after the per-entry checks (`check_received`), in log order,
//! over the facts those checks read from each release's verified bundle.

use std::collections::{BTreeMap, HashMap};

use credex_protocol::{NodeName, RegionCode};

use crate::verify::Violation;

/// How far an entry's header time (when the writer committed it) may lie
/// from the time its body records: a decision is committed within the group
/// commit's delay, so minutes mean the entry was written later than it says.
pub const MAX_ENTRY_TIME_DRIFT_MS: i64 = 5 * 60_000;

/// How far behind the latest header time seen so far an entry's header may
/// lie: entries are committed in order, so an entry far older than the ones
/// before it was inserted afterwards.
pub const MAX_HEADER_REGRESSION_MS: i64 = 5 * 60_000;

/// How far a request's own time may lie from the release it led to: the
/// responder refuses requests beyond its clock-skew window (5 minutes by
/// default), so more than this means the entry's time was edited.
pub const MAX_REQUEST_AGE_MS: i64 = 15 * 60_000;

/// What the per-entry check learnt about one release, from its verified
/// bundle and the re-run decision.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseFacts {
    /// The requesting node.
    pub requester: (RegionCode, NodeName),
    /// The request's nonce.
    pub nonce: [u8; 16],
    /// When the request was signed, Unix ms.
    pub issued_at_ms: i64,
    /// The subject authorization it used: id and allowed uses.
    pub authorization: Option<([u8; 16], u32)>,
    /// The quota it counted against: the peer region, the quota window's
    /// start (Unix ms) and the smallest daily limit of the rules applied.
    pub quota: Option<(RegionCode, i64, u64)>,
}

/// One received access in log order, as the sequence checks see it.
pub(crate) struct Received<'a> {
    /// Leaf index.
    pub index: u64,
    /// The entry's header time (committed at), Unix ms.
    pub header_ms: i64,
    /// The time the entry's body records, Unix ms.
    pub at_ms: i64,
    /// The query digest.
    pub digest: &'a [u8; 32],
    /// Facts of a release (`None` for a denial, or when the per-entry check
    /// already failed).
    pub release: Option<&'a ReleaseFacts>,
}

/// The sequence checks over one log's received accesses, in log order.
pub(crate) fn check_sequence(origin: &str, received: &[Received<'_>]) -> Vec<Violation> {
    let mut seen = Seen::default();
    let mut found = Vec::new();
    for r in received {
        let mut findings = seen.entry_times(r);
        if let Some(facts) = r.release {
            findings.extend(seen.released_once(r, facts));
            findings.extend(request_time_far(r, facts));
            findings.extend(seen.uses_and_quota(facts));
        }
        found.extend(findings.into_iter().map(|(rule, detail)| Violation {
            log: origin.to_owned(),
            index: Some(r.index),
            rule,
            detail,
            access: Some(hex::encode(r.digest)),
        }));
    }
    found
}

/// A broken rule and what was found, before it is placed in the log.
type Finding = (&'static str, String);

/// (requester region, node, nonce): what a nonce is unique under.
type NonceKey = (RegionCode, NodeName, [u8; 16]);

/// What the sequence checks have seen of the releases so far.
#[derive(Default)]
struct Seen {
    /// Query digest → leaf index of its release.
    released_at: HashMap<[u8; 32], u64>,
    /// Nonce → (digest, leaf index) of its first release.
    nonces: HashMap<NonceKey, ([u8; 32], u64)>,
    /// Subject authorization id → releases it backed.
    uses: HashMap<[u8; 16], u32>,
    /// (peer region, quota window start) → releases counted against it.
    quota: BTreeMap<(RegionCode, i64), u64>,
    /// The latest header time so far.
    latest_header: Option<i64>,
}

/// How far apart two times from an export are: hostile values must not
/// overflow.
fn apart(a: i64, b: i64) -> u64 {
    a.abs_diff(b)
}

impl Seen {
    /// An entry's header time must be near the time its body records, and
    /// not far behind the entries before it.
    fn entry_times(&mut self, r: &Received<'_>) -> Vec<Finding> {
        let mut found = Vec::new();
        if apart(r.header_ms, r.at_ms) > MAX_ENTRY_TIME_DRIFT_MS.unsigned_abs() {
            found.push((
                "entry_time_mismatch",
                format!(
                    "committed at {} but records {}: {} s apart (at most {} s is possible)",
                    r.header_ms,
                    r.at_ms,
                    apart(r.header_ms, r.at_ms) / 1000,
                    MAX_ENTRY_TIME_DRIFT_MS / 1000
                ),
            ));
        }
        if let Some(latest) = self.latest_header
            && r.header_ms < latest.saturating_sub(MAX_HEADER_REGRESSION_MS)
        {
            found.push((
                "entry_out_of_order",
                format!(
                    "committed at {}, {} s before an earlier entry: entries are committed in order, so this one was inserted later",
                    r.header_ms,
                    apart(latest, r.header_ms) / 1000
                ),
            ));
        }
        self.latest_header = Some(
            self.latest_header
                .map_or(r.header_ms, |l| l.max(r.header_ms)),
        );
        found
    }

    /// A signed query is released once, and a nonce backs one query.
    fn released_once(&mut self, r: &Received<'_>, facts: &ReleaseFacts) -> Vec<Finding> {
        let mut found = Vec::new();
        if let Some(first) = self.released_at.insert(*r.digest, r.index) {
            found.push((
                "repeated_release",
                format!(
                    "the same signed query was already released at entry {first}: a release is logged once"
                ),
            ));
        }
        let (region, node) = &facts.requester;
        if let Some((digest, first)) = self
            .nonces
            .insert((*region, node.clone(), facts.nonce), (*r.digest, r.index))
            && digest != *r.digest
        {
            found.push((
                "nonce_reused",
                format!(
                    "nonce {} of {region}/{node} was already released at entry {first}",
                    hex::encode(facts.nonce)
                ),
            ));
        }
        found
    }

    /// A release counts against its subject authorization's uses and its
    /// peer's daily quota.
    fn uses_and_quota(&mut self, facts: &ReleaseFacts) -> Vec<Finding> {
        let mut found = Vec::new();
        if let Some((id, max_uses)) = facts.authorization {
            let used = self.uses.entry(id).or_default();
            *used += 1;
            if *used > max_uses {
                found.push((
                    "authorization_overused",
                    format!(
                        "subject authorization {} backs its release number {used}, but allows {max_uses}",
                        hex::encode(id)
                    ),
                ));
            }
        }
        if let Some((peer, window, limit)) = facts.quota {
            let used = self.quota.entry((peer, window)).or_default();
            if *used >= limit {
                found.push((
                    "quota_exceeded",
                    format!(
                        "release number {} to region {peer} in the quota day starting {window}, over the daily quota of {limit}",
                        *used + 1
                    ),
                ));
            }
            *used += 1;
        }
        found
    }
}

/// A request signed far from the time of its release.
fn request_time_far(r: &Received<'_>, facts: &ReleaseFacts) -> Option<Finding> {
    (apart(facts.issued_at_ms, r.at_ms) > MAX_REQUEST_AGE_MS.unsigned_abs()).then(|| {
        (
            "request_time_far",
            format!(
                "the request was signed at {} and released at {}: {} s apart, beyond any clock-skew window",
                facts.issued_at_ms,
                r.at_ms,
                apart(facts.issued_at_ms, r.at_ms) / 1000
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        nonce: u8,
        authorization: Option<([u8; 16], u32)>,
        quota: Option<u64>,
    ) -> ReleaseFacts {
        let region: RegionCode = "520000".parse().unwrap_or(RegionCode::NATIONAL);
        ReleaseFacts {
            requester: (region, "gy-1".parse().unwrap_or_else(|_| unreachable!())),
            nonce: [nonce; 16],
            issued_at_ms: 1_000_000,
            authorization,
            quota: quota.map(|limit| (region, 0, limit)),
        }
    }

    fn rules(received: &[Received<'_>]) -> Vec<&'static str> {
        check_sequence("log", received)
            .iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn an_honest_sequence_has_no_findings_and_each_edit_its_own() {
        let (d1, d2, d3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let a = facts(1, Some(([9; 16], 2)), Some(2));
        let b = facts(2, Some(([9; 16], 2)), Some(2));
        let c = facts(3, Some(([9; 16], 2)), Some(2));
        let at = |index, digest, release, header_ms| Received {
            index,
            header_ms,
            at_ms: 1_000_000 + index as i64,
            digest,
            release,
        };
        let honest = [
            at(0, &d1, Some(&a), 1_000_100),
            at(1, &d2, Some(&b), 1_000_200),
        ];
        assert!(rules(&honest).is_empty());
        // A verbatim copy appended later: repeated, and its header is far from its body.
        let copied = [
            at(0, &d1, Some(&a), 1_000_100),
            at(1, &d2, Some(&b), 1_000_200),
            at(2, &d1, Some(&a), 9_000_000),
        ];
        let r = rules(&copied);
        assert!(
            r.contains(&"repeated_release") && r.contains(&"entry_time_mismatch"),
            "{r:?}"
        );
        assert!(
            r.contains(&"authorization_overused") && r.contains(&"quota_exceeded"),
            "{r:?}"
        );
        // A third release on a two-use authorization and a two-a-day quota.
        let third = [
            at(0, &d1, Some(&a), 1_000_100),
            at(1, &d2, Some(&b), 1_000_200),
            at(2, &d3, Some(&c), 1_000_300),
        ];
        let r = rules(&third);
        assert_eq!(r, ["authorization_overused", "quota_exceeded"]);
        // Another query under an already released nonce.
        let same_nonce = [
            at(0, &d1, Some(&a), 1_000_100),
            at(1, &d2, Some(&a), 1_000_200),
        ];
        assert!(rules(&same_nonce).contains(&"nonce_reused"));
        // Denials count for nothing but their times.
        let denied = [at(0, &d1, None, 1_000_100), at(1, &d1, None, 1_000_200)];
        assert!(rules(&denied).is_empty());
        let inserted = [at(0, &d1, None, 2_000_000), at(1, &d2, None, 1_000_000)];
        assert!(rules(&inserted).contains(&"entry_out_of_order"));
    }
}
