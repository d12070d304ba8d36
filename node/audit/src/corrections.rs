//! Corrections as the auditor sees them (经手必有责): every region that
//! received a record before it changed must have been sent a correction,
//! and every correction sent must have been acknowledged by its recipient.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use credex_journal::{CorrectionsSent, RecordsChanged, RecordsDisclosed};
use credex_protocol::RegionCode;

use crate::disclosures::Finding;

/// The corrections a log owes and what it shows of them (经手必有责): for
/// each record a `records_changed` entry names, every region the ledger
/// (folded up to that entry) says received it before the change must be
/// named by a `corrections_sent` entry answering it — unless it received
/// the record again after the change — and each correction sent must have
/// been acknowledged by its recipient (a `message_sent` entry of its id,
/// applied).
pub struct Corrections<'a> {
    /// (leaf index, entry) of every disclosure, in log order.
    pub disclosures: &'a [(u64, RecordsDisclosed)],
    /// (leaf index, entry) of every record change, in log order.
    pub changes: &'a [(u64, RecordsChanged)],
    /// (leaf index, entry) of every correction sent.
    pub sent: &'a [(u64, CorrectionsSent)],
    /// Message ids this log's node sent and saw applied.
    pub acknowledged: &'a HashSet<[u8; 16]>,
    /// The log's own region.
    pub region: RegionCode,
}

impl Corrections<'_> {
    /// The findings, by leaf index.
    pub fn check(&self) -> Vec<(u64, Finding)> {
        let mut out = Vec::new();
        // What each change's corrections named, by (change index, record).
        let mut named: BTreeMap<(u64, [u8; 32]), BTreeSet<RegionCode>> = BTreeMap::new();
        for (index, s) in self.sent {
            named
                .entry((s.changed_at_index, s.record))
                .or_default()
                .extend(s.sent_to.iter().map(|(r, _)| *r));
            for (region, id) in &s.sent_to {
                if !self.acknowledged.contains(id) {
                    out.push((
                        *index,
                        (
                            "correction_unconfirmed",
                            format!(
                                "the correction of record {} to {region} was never acknowledged",
                                &hex::encode(s.record)[..16]
                            ),
                        ),
                    ));
                }
            }
        }
        // Who received each record, and when (leaf index), in log order.
        let mut received: BTreeMap<[u8; 32], Vec<(u64, RegionCode)>> = BTreeMap::new();
        for (index, d) in self.disclosures {
            for record in &d.records {
                let got = received.entry(*record).or_default();
                got.extend(d.recipients.iter().map(|r| (*index, *r)));
            }
        }
        for (index, change) in self.changes {
            for record in change
                .replaced
                .iter()
                .chain(&change.deleted)
                .chain(&change.repaired)
            {
                let Some(got) = received.get(record) else {
                    continue;
                };
                let before: BTreeSet<RegionCode> = got
                    .iter()
                    .filter(|(at, r)| at < index && *r != self.region)
                    .map(|(_, r)| *r)
                    .collect();
                let again: BTreeSet<RegionCode> = got
                    .iter()
                    .filter(|(at, _)| at > index)
                    .map(|(_, r)| *r)
                    .collect();
                let told = named.get(&(*index, *record)).cloned().unwrap_or_default();
                for region in before.difference(&told) {
                    if !again.contains(region) {
                        out.push((
                            *index,
                            (
                                "correction_not_sent",
                                format!(
                                    "record {} changed, but {region}, which had received it, was not sent a correction",
                                    &hex::encode(record)[..16]
                                ),
                            ),
                        ));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credex_journal::{DisclosedBy, ENTRY_VERSION, record_key};
    use credex_protocol::rights::RecordChange;

    fn region(code: &str) -> RegionCode {
        code.parse().expect("a region code")
    }

    fn disclosed(to: &str) -> RecordsDisclosed {
        RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms: 1,
            by: DisclosedBy::Upward { seq: 0 },
            recipients: vec![region(to)],
            records: vec![record_key("admin_penalty", "R1")],
        }
    }

    #[test]
    fn every_earlier_recipient_is_owed_an_acknowledged_correction() {
        let r1 = record_key("admin_penalty", "R1");
        let disclosures = vec![
            (1, disclosed("500000")),
            (2, disclosed("440000")),
            // Received again after the change: holds the new version.
            (6, disclosed("450000")),
            (3, disclosed("450000")),
        ];
        let changes = vec![(
            4,
            RecordsChanged {
                version: ENTRY_VERSION,
                at_ms: 4,
                replaced: vec![r1],
                deleted: Vec::new(),
                repaired: Vec::new(),
            },
        )];
        let sent = vec![(
            5,
            CorrectionsSent {
                version: ENTRY_VERSION,
                at_ms: 5,
                record: r1,
                change: RecordChange::Replaced,
                changed_at_index: 4,
                sent_to: vec![(region("500000"), [1; 16])],
            },
        )];
        let acknowledged: HashSet<[u8; 16]> = HashSet::new();
        let found = Corrections {
            disclosures: &disclosures,
            changes: &changes,
            sent: &sent,
            acknowledged: &acknowledged,
            region: region("520000"),
        }
        .check();
        let rules: Vec<(u64, &str, bool)> = found
            .iter()
            .map(|(i, (rule, detail))| (*i, *rule, detail.contains("440000")))
            .collect();
        assert_eq!(
            rules,
            vec![
                (5, "correction_unconfirmed", false),
                (4, "correction_not_sent", true),
            ],
            "{found:?}"
        );
        let acknowledged: HashSet<[u8; 16]> = [[1; 16]].into();
        let told_both = Corrections {
            disclosures: &disclosures[..1],
            changes: &changes,
            sent: &sent,
            acknowledged: &acknowledged,
            region: region("520000"),
        }
        .check();
        assert_eq!(told_both, Vec::new());
    }
}
