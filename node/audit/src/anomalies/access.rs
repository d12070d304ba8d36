//! The rules' input: one [`Access`] per access entry, built from the
//! entries a verified log holds, and the merge of a federation query's two
//! sides into one access seen.

use std::collections::BTreeMap;

use credex_flows::calendar::china_date_text;
use credex_journal::{AccessEntry, CreditChecked, Direction};
use credex_protocol::RegionCode;
use credex_protocol::query::Outcome;
use serde::Serialize;

/// Where an access is logged: the log's origin and the entry's leaf index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EntryRef {
    /// The log origin.
    pub log: String,
    /// The entry's leaf index.
    pub index: u64,
}

/// What kind of entry logged an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// A federation query this node answered (the responder's entry).
    Received,
    /// A federation query this node asked and got an answer to.
    Sent,
    /// A credit check (信用核查) the node's gateway answered for a system of
    /// its own region.
    CreditCheck,
}

/// One access to one subject, as the anomaly rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The entry that logged it.
    pub entry: EntryRef,
    /// What kind of entry.
    pub kind: AccessKind,
    /// When, Unix ms (the entry's time).
    pub at_ms: i64,
    /// The query digest naming a federation query in both sides' logs
    /// (none for a credit check).
    pub query_digest: Option<[u8; 32]>,
    /// The requesting officer (经办人), `urn:credex:operator:…`, when
    /// verified; for a credit check, the officer the calling system named.
    pub requester: Option<String>,
    /// The approving officer (审核人), when verified (none for a credit
    /// check).
    pub approver: Option<String>,
    /// The requesting region (a credit check's: the node's own).
    pub requester_region: RegionCode,
    /// The region asked (a credit check's: the node's own).
    pub responder_region: RegionCode,
    /// Purpose code.
    pub purpose: String,
    /// Categories asked for (none recorded for a credit check).
    pub categories: Vec<String>,
    /// Digest of the subject ([`credex_journal::subject_digest`]).
    pub subject: [u8; 32],
    /// Granted, trimmed or denied (a credit check the gateway answered is
    /// granted).
    pub outcome: Outcome,
}

impl Access {
    /// The access an access entry at `index` of the log `origin` records.
    pub fn from_entry(origin: &str, index: u64, e: &AccessEntry) -> Access {
        Access {
            entry: EntryRef {
                log: origin.to_owned(),
                index,
            },
            kind: match e.direction {
                Direction::Received => AccessKind::Received,
                Direction::Sent => AccessKind::Sent,
            },
            at_ms: e.at_ms,
            query_digest: Some(e.query_digest),
            requester: e.requester_officer.as_ref().map(|o| o.identity.clone()),
            approver: e.approver_officer.as_ref().map(|o| o.identity.clone()),
            requester_region: e.requester_region,
            responder_region: e.responder_region,
            purpose: e.purpose.clone(),
            categories: e.requested.iter().map(|c| c.category.clone()).collect(),
            subject: e.subject_digest,
            outcome: e.outcome,
        }
    }

    /// The accesses, one per subject, a credit check entry at `index` of
    /// the log `origin` of `region` records.
    pub fn from_credit_check(
        origin: &str,
        region: RegionCode,
        index: u64,
        c: &CreditChecked,
    ) -> Vec<Access> {
        c.subjects
            .iter()
            .map(|subject| Access {
                entry: EntryRef {
                    log: origin.to_owned(),
                    index,
                },
                kind: AccessKind::CreditCheck,
                at_ms: c.at_ms,
                query_digest: None,
                requester: Some(c.officer.clone()),
                approver: None,
                requester_region: region,
                responder_region: region,
                purpose: c.purpose.clone(),
                categories: Vec::new(),
                subject: *subject,
                outcome: Outcome::Granted,
            })
            .collect()
    }
}

/// One access as the rules count it: a federation query logged by both
/// sides is one access, represented by the responder's entry when there
/// is one, with both sides' entries.
#[derive(Debug)]
pub(crate) struct Seen<'a> {
    /// The entry that represents it.
    pub(crate) access: &'a Access,
    /// Every entry that logged it, in order.
    pub(crate) entries: Vec<EntryRef>,
}

impl Seen<'_> {
    /// Time, Unix ms.
    pub(crate) fn at_ms(&self) -> i64 {
        self.access.at_ms
    }

    /// The verified requesting officer.
    pub(crate) fn officer(&self) -> Option<&str> {
        self.access.requester.as_deref()
    }

    /// Whether it was denied.
    pub(crate) fn denied(&self) -> bool {
        self.access.outcome == Outcome::Denied
    }

    /// The two regions of a federation query, lower code first (none for a
    /// credit check).
    pub(crate) fn link(&self) -> Option<[RegionCode; 2]> {
        let a = self.access;
        if a.kind == AccessKind::CreditCheck {
            return None;
        }
        let mut link = [a.requester_region, a.responder_region];
        link.sort();
        Some(link)
    }
}

/// The accesses at or before `now_ms`, each federation query once, in
/// time order (ties by entry), whatever the order of `accesses`.
pub(crate) fn merge(accesses: &[Access], now_ms: i64) -> Vec<Seen<'_>> {
    let mut sorted: Vec<&Access> = accesses.iter().filter(|a| a.at_ms <= now_ms).collect();
    sorted.sort_by(|a, b| (&a.entry, a.subject, a.at_ms).cmp(&(&b.entry, b.subject, b.at_ms)));
    let mut seen: Vec<Seen<'_>> = Vec::with_capacity(sorted.len());
    let mut by_query: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    for a in sorted {
        let Some(digest) = a.query_digest else {
            seen.push(Seen {
                access: a,
                entries: vec![a.entry.clone()],
            });
            continue;
        };
        match by_query.get(&digest) {
            Some(&at) => {
                let s = &mut seen[at];
                s.entries.push(a.entry.clone());
                if a.kind == AccessKind::Received && s.access.kind != AccessKind::Received {
                    s.access = a;
                }
            }
            None => {
                by_query.insert(digest, seen.len());
                seen.push(Seen {
                    access: a,
                    entries: vec![a.entry.clone()],
                });
            }
        }
    }
    for s in &mut seen {
        s.entries.sort();
        s.entries.dedup();
    }
    seen.sort_by(|a, b| {
        (a.at_ms(), &a.entries, a.access.subject).cmp(&(b.at_ms(), &b.entries, b.access.subject))
    });
    seen
}

/// The China days (`YYYY-MM-DD`) of the first and the last of `seen`
/// (time-ordered).
pub(crate) fn first_and_last_day(seen: &[&Seen<'_>]) -> (String, String) {
    let day = |s: Option<&&Seen<'_>>| china_date_text(s.map_or(0, |s| s.at_ms()));
    (day(seen.first()), day(seen.last()))
}

/// The entries of `seen`, in order and once each.
pub(crate) fn entries_of<'s, 'a: 's>(
    seen: impl IntoIterator<Item = &'s Seen<'a>>,
) -> Vec<EntryRef> {
    let mut out: Vec<EntryRef> = seen
        .into_iter()
        .flat_map(|s| s.entries.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::fixtures::{Workload, access, at, guangdong, guizhou, officer};
    use credex_journal::{ENTRY_VERSION, GatewayClient, Officer};
    use credex_protocol::query::{CategoryFields, QueryReason};

    #[test]
    fn an_access_entry_gives_its_officers_regions_and_categories() {
        let officer_of = |name: &str| Officer {
            identity: officer(name),
            fingerprint: [1; 32],
        };
        let fields = |category: &str| CategoryFields {
            category: category.into(),
            fields: vec!["amount".into()],
        };
        let e = AccessEntry {
            version: ENTRY_VERSION,
            direction: Direction::Sent,
            at_ms: 5,
            query_digest: [2; 32],
            request_id: [3; 16],
            requester_region: guizhou(),
            requester_node: "gy-1".parse().expect("a node name"),
            requester_officer: Some(officer_of("a")),
            approver_officer: Some(officer_of("b")),
            responder_region: guangdong(),
            subject_digest: [4; 32],
            purpose: "loan".into(),
            legal_basis: None,
            subject_authorization_id: None,
            requested: vec![fields("admin_penalty"), fields("admin_license")],
            released: Vec::new(),
            withheld: Vec::new(),
            outcome: Outcome::Denied,
            reason: QueryReason::UnknownPeer,
            policy_hash: [0; 32],
            response_digest: None,
            counterpart: None,
        };
        let a = Access::from_entry("gy-log", 8, &e);
        assert_eq!(
            a.entry,
            EntryRef {
                log: "gy-log".into(),
                index: 8
            }
        );
        assert_eq!(a.kind, AccessKind::Sent);
        assert_eq!(
            (a.requester, a.approver),
            (Some(officer("a")), Some(officer("b")))
        );
        assert_eq!(a.categories, ["admin_penalty", "admin_license"]);
        assert_eq!((a.query_digest, a.subject), (Some([2; 32]), [4; 32]));
        assert_eq!(a.outcome, Outcome::Denied);
    }

    #[test]
    fn a_credit_check_is_one_granted_access_per_subject_with_no_peer() {
        let check = CreditChecked {
            version: ENTRY_VERSION,
            at_ms: 7,
            client: GatewayClient {
                identity: "urn:credex:client:440000:check:bank".into(),
                fingerprint: [0; 32],
            },
            purpose: "loan".into(),
            officer: officer("c"),
            subjects: vec![[1; 32], [2; 32], [3; 32]],
            answers_digest: [0; 32],
            part: (1, 1),
        };
        let accesses = Access::from_credit_check("gz-log", guangdong(), 4, &check);
        assert_eq!(accesses.len(), 3);
        let seen = merge(&accesses, 7);
        assert_eq!(seen.len(), 3, "no query digest: never merged");
        for s in &seen {
            assert_eq!(s.access.kind, AccessKind::CreditCheck);
            assert_eq!(s.officer(), Some(officer("c").as_str()));
            assert_eq!(s.link(), None);
            assert_eq!(
                s.entries,
                [EntryRef {
                    log: "gz-log".into(),
                    index: 4
                }]
            );
        }
    }

    #[test]
    fn both_sides_of_a_query_count_once_as_the_responders_entry() {
        let mut log = Workload::default();
        log.add_both("a", [7; 32], at(0, 10, 0));
        log.accesses.reverse();
        let seen = merge(&log.accesses, i64::MAX);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].access.kind, AccessKind::Received);
        assert_eq!(seen[0].at_ms(), at(0, 10, 0));
        let logs: Vec<&str> = seen[0].entries.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, ["req", "resp"]);
    }

    #[test]
    fn accesses_after_now_are_not_seen() {
        let a = access("a", [1; 32], at(1, 10, 0));
        assert_eq!(merge(std::slice::from_ref(&a), a.at_ms).len(), 1);
        assert!(merge(std::slice::from_ref(&a), a.at_ms - 1).is_empty());
    }
}
