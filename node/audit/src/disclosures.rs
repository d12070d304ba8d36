//! The disclosures ledger as the auditor sees it: every `records_disclosed`
//! entry must name a disclosure the log allows — records entered as sent
//! in answer to a query only after that query was granted to the region
//! named, records entered as reported upward only to the national
//! platform — and the ledger these entries fold to
//! ([`credex_flows::disclosures::Ledger`]) is the one a node's stored
//! ledger must equal (`credex log check-disclosures`).

use std::collections::HashMap;

use credex_journal::disclosures::MAX_RECORDS_PER_ENTRY;
use credex_journal::{AccessEntry, Direction, DisclosedBy, RecordsDisclosed};
use credex_protocol::RegionCode;
use credex_protocol::query::Outcome;

/// A finding about one `records_disclosed` entry: (rule, detail).
pub type Finding = (&'static str, String);

/// Check each disclosure (leaf index, entry) of one log against the
/// received accesses (leaf index, entry) of the same log.
pub fn check(
    disclosures: &[(u64, RecordsDisclosed)],
    accesses: &[(u64, AccessEntry)],
) -> Vec<(u64, Finding)> {
    let granted: HashMap<[u8; 32], (u64, &AccessEntry)> = accesses
        .iter()
        .filter(|(_, e)| e.direction == Direction::Received && e.outcome != Outcome::Denied)
        .map(|(i, e)| (e.query_digest, (*i, e)))
        .collect();
    let mut out = Vec::new();
    for (index, d) in disclosures {
        if let Some(finding) = check_one(*index, d, &granted) {
            out.push((*index, finding));
        }
    }
    out
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
        DisclosedBy::ListPush { .. } => d.recipients.is_empty().then(|| {
            (
                "disclosure_recipient",
                "a list push entered as sent to no region".to_owned(),
            )
        }),
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
