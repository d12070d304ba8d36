//! The disclosures ledger as the auditor sees it: every `records_disclosed`
//! entry must name a disclosure the log allows — records entered as sent
//! in answer to a query only after that query was granted to the region
//! named, records entered as reported upward only to the national
//! platform — and the ledger these entries fold to
//! ([`credex_flows::disclosures::Ledger`]) is the one a node's stored
//! ledger must equal (`credex log check-disclosures`).

use std::collections::HashMap;

use credex_journal::disclosures::MAX_RECORDS_PER_ENTRY;
use credex_journal::{AccessEntry, Direction, DisclosedBy, ListingInitiated, RecordsDisclosed};
use credex_protocol::RegionCode;
use credex_protocol::lists::EntryId;
use credex_protocol::query::Outcome;

/// A finding about one `records_disclosed` entry: (rule, detail).
pub type Finding = (&'static str, String);

/// Check each disclosure (leaf index, entry) of one log against the
/// received accesses (leaf index, entry) of the same log.
pub fn check(
    disclosures: &[(u64, RecordsDisclosed)],
    accesses: &[(u64, AccessEntry)],
    listings: &[(u64, ListingInitiated)],
) -> Vec<(u64, Finding)> {
    // The first release of each digest (a verbatim copy later in the log
    // is the sequence checks' finding, not a reason to doubt this one).
    let mut granted: HashMap<[u8; 32], (u64, &AccessEntry)> = HashMap::new();
    for (i, e) in accesses {
        if e.direction == Direction::Received && e.outcome != Outcome::Denied {
            granted.entry(e.query_digest).or_insert((*i, e));
        }
    }
    let pushed: HashMap<EntryId, (u64, &ListingInitiated)> =
        listings.iter().map(|(i, l)| (l.entry, (*i, l))).collect();
    let mut out = Vec::new();
    for (index, d) in disclosures {
        let finding = match &d.by {
            DisclosedBy::ListPush { entry } => check_push(*index, d, entry, &pushed),
            _ => check_one(*index, d, &granted),
        };
        if let Some(finding) = finding {
            out.push((*index, finding));
        }
    }
    out
}

/// A record entered as pushed with list entry `entry` must be followed by
/// that entry's `listing_initiated`, sent to every region named.
fn check_push(
    index: u64,
    d: &RecordsDisclosed,
    entry: &EntryId,
    pushed: &HashMap<EntryId, (u64, &ListingInitiated)>,
) -> Option<Finding> {
    let Some((at, listing)) = pushed.get(entry).filter(|(at, _)| *at > index) else {
        return Some((
            "disclosure_without_release",
            format!(
                "a record entered as pushed with list entry {entry}, which this log never sent"
            ),
        ));
    };
    let sent: Vec<RegionCode> = listing.sent_to.iter().map(|(r, _)| *r).collect();
    let missing: Vec<RegionCode> = d
        .recipients
        .iter()
        .filter(|r| !sent.contains(r))
        .copied()
        .collect();
    (d.recipients.is_empty() || !missing.is_empty()).then(|| {
        (
            "disclosure_recipient",
            format!(
                "list entry {entry} (sent at {at}) went to {}; its record is entered as pushed to {}",
                names(&sent),
                names(&d.recipients)
            ),
        )
    })
}

fn check_one(
    index: u64,
    d: &RecordsDisclosed,
    granted: &HashMap<[u8; 32], (u64, &AccessEntry)>,
) -> Option<Finding> {
    if d.records.is_empty() || d.records.len() > MAX_RECORDS_PER_ENTRY {
        return Some((
            "entry_format",
            format!(
                "a disclosure of {} records (1..={MAX_RECORDS_PER_ENTRY} per entry)",
                d.records.len()
            ),
        ));
    }
    match &d.by {
        DisclosedBy::Query { query_digest } => {
            let short = hex::encode(&query_digest[..8]);
            let Some((at, access)) = granted.get(query_digest) else {
                return Some((
                    "disclosure_without_release",
                    format!("records entered as sent in answer to query {short}, which this log never granted"),
                ));
            };
            if *at >= index {
                return Some((
                    "disclosure_without_release",
                    format!("records entered as sent for query {short} before the query was logged (at {at})"),
                ));
            }
            if d.recipients != [access.requester_region] {
                return Some((
                    "disclosure_recipient",
                    format!(
                        "query {short} was granted to {}; its records are entered as sent to {}",
                        access.requester_region,
                        names(&d.recipients)
                    ),
                ));
            }
            None
        }
        DisclosedBy::Upward { seq } => (d.recipients != [RegionCode::NATIONAL]).then(|| {
            (
                "disclosure_recipient",
                format!(
                    "upward batch {seq} entered as reported to {} (only the national platform 000000 receives batches)",
                    names(&d.recipients)
                ),
            )
        }),
        // Checked against the listing (`check_push`).
        DisclosedBy::ListPush { .. } => None,
    }
}

fn names(regions: &[RegionCode]) -> String {
    let names: Vec<String> = regions.iter().map(ToString::to_string).collect();
    if names.is_empty() {
        "no region".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credex_journal::{ENTRY_VERSION, record_key};
    use credex_protocol::query::QueryReason;

    fn region(code: &str) -> RegionCode {
        code.parse().expect("a region code")
    }

    fn granted(digest: u8, to: &str) -> AccessEntry {
        AccessEntry {
            version: ENTRY_VERSION,
            direction: Direction::Received,
            at_ms: 1,
            query_digest: [digest; 32],
            request_id: [0; 16],
            requester_region: region(to),
            requester_node: "node-1".parse().expect("a node name"),
            requester_officer: None,
            approver_officer: None,
            responder_region: region("520000"),
            subject_digest: [0; 32],
            purpose: "public_procurement".into(),
            legal_basis: None,
            subject_authorization_id: None,
            requested: Vec::new(),
            released: Vec::new(),
            withheld: Vec::new(),
            outcome: Outcome::Granted,
            reason: QueryReason::Granted,
            policy_hash: [0; 32],
            response_digest: None,
            counterpart: None,
        }
    }

    fn disclosed(by: DisclosedBy, to: &str) -> RecordsDisclosed {
        RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms: 2,
            by,
            recipients: vec![region(to)],
            records: vec![record_key("admin_penalty", "R1")],
        }
    }

    fn rules(found: &[(u64, Finding)]) -> Vec<(u64, &'static str)> {
        found.iter().map(|(i, (rule, _))| (*i, *rule)).collect()
    }

    #[test]
    fn each_disclosure_must_follow_its_release_to_its_requester() {
        let q = |d: u8| DisclosedBy::Query {
            query_digest: [d; 32],
        };
        let mut denied = granted(3, "440000");
        denied.outcome = Outcome::Denied;
        let accesses = vec![
            (1, granted(1, "500000")),
            (2, denied),
            // A verbatim copy later in the log does not move the release.
            (9, granted(1, "500000")),
        ];
        let disclosures = vec![
            (3, disclosed(q(1), "500000")),
            (4, disclosed(q(1), "440000")),
            (5, disclosed(q(3), "440000")),
            (6, disclosed(q(7), "440000")),
            (7, disclosed(DisclosedBy::Upward { seq: 0 }, "000000")),
            (8, disclosed(DisclosedBy::Upward { seq: 1 }, "500000")),
            (10, disclosed(q(1), "500000")),
        ];
        assert_eq!(
            rules(&check(&disclosures, &accesses, &[])),
            vec![
                (4, "disclosure_recipient"),
                (5, "disclosure_without_release"),
                (6, "disclosure_without_release"),
                (8, "disclosure_recipient"),
            ]
        );
        let before = vec![(0, disclosed(q(1), "500000"))];
        assert_eq!(
            rules(&check(&before, &accesses, &[])),
            vec![(0, "disclosure_without_release")]
        );
    }

    #[test]
    fn a_push_must_be_followed_by_its_listing_to_those_regions() {
        use credex_protocol::lists::ListKind;
        let entry: EntryId = "520000-000102030405060708090a0b0c0d0e0f"
            .parse()
            .expect("an entry id");
        let listing = ListingInitiated {
            version: ENTRY_VERSION,
            at_ms: 3,
            entry,
            list_type: ListKind::SeriousDishonesty,
            subject_digest: [0; 32],
            entry_digest: [0; 32],
            measures: Vec::new(),
            sent_to: vec![(region("500000"), [1; 16]), (region("440000"), [2; 16])],
            no_peer: Vec::new(),
            withheld: Vec::new(),
        };
        let push = |to: &str| disclosed(DisclosedBy::ListPush { entry }, to);
        let disclosures = vec![
            (1, push("500000")),
            (2, push("450000")),
            (9, push("500000")),
        ];
        assert_eq!(
            rules(&check(&disclosures, &[], &[(5, listing)])),
            vec![
                (2, "disclosure_recipient"),
                (9, "disclosure_without_release"),
            ]
        );
    }
}
