//! Checking one log's entries, once they are known to be in its tree
//! (`crate::load`): the policies the node loaded, rebuilt from their
//! archives; every entry decoded by kind; each received access alone
//! ([`crate::received`]) and the releases as a sequence ([`crate::replay`]);
//! each answered query against the intent logged before it was sent; each
//! federation message ([`crate::messages`]); each disclosure entered in
//! the ledger ([`crate::disclosures`]); the corrections owed
//! ([`crate::corrections`]); each decided case's effect
//! ([`crate::decisions`]). The gateway's credit checks
//! are decoded and kept for the anomaly rules ([`crate::anomalies`]).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use credex_journal::split as split_entry;
use credex_journal::{
    AccessEntry, CaseMarked, ChangeInitiated, CorrectionsSent, CreditChecked, Direction,
    ListingInitiated, ProcedureMarked, RecordsChanged, RecordsDisclosed, kind,
};
use credex_policies::PolicySet;
use credex_protocol::RegionCode;
use credex_protocol::federation::DeliveryStatus;

use crate::messages::MessageEntry;
use crate::received::check_received;
use crate::replay::{Received, check_sequence};
use crate::verify::{Auditor, LogSummary, parallel_map};

/// What the checks of a log's entries keep for the checks across logs.
pub(crate) struct CheckedEntries {
    /// (leaf index, entry) of every access entry.
    pub(crate) accesses: Vec<(u64, AccessEntry)>,
    /// (leaf index, entry) of every federation message entry that passed
    /// its own checks.
    pub(crate) messages: Vec<(u64, MessageEntry)>,
    /// Digests of the queries this node logged as about to be sent.
    pub(crate) intents: BTreeSet<[u8; 32]>,
    /// (leaf index, entry) of every credit check the gateway answered.
    pub(crate) credit_checks: Vec<(u64, CreditChecked)>,
}

/// A log's entries decoded and sorted by what checks them.
#[derive(Default)]
struct Decoded<'e> {
    /// (leaf index, entry) of every change of the process doing the
    /// region's duties.
    duties: Vec<(u64, credex_journal::DutiesTaken)>,
    /// (leaf index, entry) of every access entry.
    accesses: Vec<(u64, AccessEntry)>,
    /// Leaf index → the entry's header time (committed at), Unix ms.
    header_times: HashMap<u64, i64>,
    /// (leaf index, kind, body) of every federation message entry.
    messages: Vec<(u64, u16, &'e [u8])>,
    /// Digests of the queries this node logged as about to be sent.
    intents: BTreeSet<[u8; 32]>,
    /// (leaf index, entry) of every credit check the gateway answered.
    credit_checks: Vec<(u64, CreditChecked)>,
    /// (leaf index, entry) of every disclosure entered in the ledger.
    disclosures: Vec<(u64, RecordsDisclosed)>,
    /// (leaf index, entry) of every record change.
    changes: Vec<(u64, RecordsChanged)>,
    /// (leaf index, entry) of every listing this node sent.
    listings: Vec<(u64, ListingInitiated)>,
    /// (leaf index, entry) of every correction sent.
    corrections: Vec<(u64, CorrectionsSent)>,
    /// (leaf index, entry) of every change of an entry made here.
    entry_changes: Vec<(u64, ChangeInitiated)>,
    /// (leaf index, entry) of every case moved here.
    marked: Vec<(u64, ProcedureMarked)>,
    /// (leaf index, entry) of every case about a record opened or moved here.
    record_cases: Vec<(u64, CaseMarked)>,
}

impl Auditor<'_> {
    /// Check the `entries` of the log `origin` of `region`, exported to
    /// `dir`, counting them into its `summary`.
    pub(crate) fn check_entries(
        &mut self,
        dir: &Path,
        origin: &str,
        region: RegionCode,
        entries: &[(u64, Vec<u8>)],
        summary: &mut LogSummary,
    ) -> CheckedEntries {
        let policies = self.rebuild_policies(origin, region, entries);
        let decoded = self.decode_entries(origin, entries, summary);
        self.check_received_accesses(dir, origin, region, &decoded, &policies);
        self.check_intents(origin, &decoded);
        for (index, (rule, detail)) in crate::duties::check(&decoded.duties) {
            self.violation(origin, Some(index), rule, detail);
        }
        for (index, (rule, detail)) in
            crate::disclosures::check(&decoded.disclosures, &decoded.accesses, &decoded.listings)
        {
            self.violation(origin, Some(index), rule, detail);
        }
        summary.disclosures = decoded.disclosures.len();
        summary.ledger_rows = credex_flows::disclosures::Ledger::from_entries(
            decoded.disclosures.iter().map(|(_, d)| d),
        )
        .len();
        let messages = self.check_messages(dir, origin, region, &decoded.messages, summary);
        let acknowledged: std::collections::HashSet<[u8; 16]> = messages
            .iter()
            .filter_map(|(_, m)| match m {
                MessageEntry::Sent(s) if !matches!(s.status, DeliveryStatus::Refused { .. }) => {
                    Some(s.message_id)
                }
                _ => None,
            })
            .collect();
        let corrections = crate::corrections::Corrections {
            disclosures: &decoded.disclosures,
            changes: &decoded.changes,
            sent: &decoded.corrections,
            acknowledged: &acknowledged,
            region,
        };
        for (index, (rule, detail)) in corrections.check() {
            self.violation(origin, Some(index), rule, detail);
        }
        let decisions = crate::decisions::Decisions {
            marked: &decoded.marked,
            record_cases: &decoded.record_cases,
            changes: &decoded.entry_changes,
            disclosures: &decoded.disclosures,
            record_changes: &decoded.changes,
        };
        for (index, (rule, detail)) in decisions.check() {
            self.violation(origin, Some(index), rule, detail);
        }
        summary.corrections = decoded
            .corrections
            .iter()
            .map(|(_, c)| c.sent_to.len())
            .sum();
        CheckedEntries {
            accesses: decoded.accesses,
            messages,
            intents: decoded.intents,
            credit_checks: decoded.credit_checks,
        }
    }

    /// The policies this node loaded, rebuilt from their archives, by
    /// policy hash.
    fn rebuild_policies(
        &mut self,
        origin: &str,
        region: RegionCode,
        entries: &[(u64, Vec<u8>)],
    ) -> HashMap<[u8; 32], PolicySet> {
        let mut policies = HashMap::new();
        for (index, bytes) in entries {
            let Ok((kind, _, body)) = split_entry(bytes) else {
                continue;
            };
            if kind != kind::POLICY_LOADED {
                continue;
            }
            let Ok(loaded) = credex_protocol::decode::<credex_journal::PolicyLoaded>(body) else {
                self.violation(
                    origin,
                    Some(*index),
                    "entry_format",
                    "unreadable policy load entry",
                );
                continue;
            };
            let Some(archive) = &loaded.archive else {
                continue;
            };
            match credex_flows::query::rebuild_policy(region, archive) {
                Ok(p) if p.policy_hash() == loaded.policy_hash => {
                    policies.insert(loaded.policy_hash, p);
                }
                Ok(p) => self.violation(
                    origin,
                    Some(*index),
                    "policy_archive_mismatch",
                    format!(
                        "the archived policy hashes to {}, the entry says {}",
                        p.policy_hash_hex(),
                        hex::encode(loaded.policy_hash)
                    ),
                ),
                Err(e) => self.violation(
                    origin,
                    Some(*index),
                    "policy_archive_mismatch",
                    format!("the archived policy does not load: {e}"),
                ),
            }
        }
        policies
    }

    /// Every entry split from its header and sorted by kind: accesses
    /// decoded and counted into `summary`, query intents and credit checks
    /// decoded, messages kept for their own checks; other kinds are not
    /// the auditor's.
    /// Reports progress every 1024 entries.
    fn decode_entries<'e>(
        &mut self,
        origin: &str,
        entries: &'e [(u64, Vec<u8>)],
        summary: &mut LogSummary,
    ) -> Decoded<'e> {
        let mut decoded = Decoded::default();
        for (index, bytes) in entries {
            if index % 1024 == 0 {
                (self.progress)(1024.min(entries.len() as u64 - index));
            }
            let Ok((kind, header_ms, body)) = split_entry(bytes) else {
                self.violation(
                    origin,
                    Some(*index),
                    "entry_format",
                    "entry shorter than its header",
                );
                continue;
            };
            decoded.header_times.insert(*index, header_ms);
            match kind {
                kind::MESSAGE_RECEIVED | kind::MESSAGE_SENT => {
                    decoded.messages.push((*index, kind, body));
                }
                kind::DUTIES_TAKEN => {
                    match credex_protocol::decode::<credex_journal::DutiesTaken>(body) {
                        Ok(d) => decoded.duties.push((*index, d)),
                        Err(err) => {
                            self.violation(origin, Some(*index), "entry_format", err.to_string());
                        }
                    }
                }
                kind::QUERY_INTENT => {
                    match credex_protocol::decode::<credex_journal::QueryIntent>(body) {
                        Ok(intent) => {
                            decoded.intents.insert(intent.query_digest);
                        }
                        Err(err) => {
                            self.violation(origin, Some(*index), "entry_format", err.to_string());
                        }
                    }
                }
                kind::LISTING_INITIATED => {
                    match credex_protocol::decode::<ListingInitiated>(body) {
                        Ok(l) => decoded.listings.push((*index, l)),
                        Err(err) => {
                            self.violation(origin, Some(*index), "entry_format", err.to_string());
                        }
                    }
                }
                kind::CHANGE_INITIATED => match credex_protocol::decode::<ChangeInitiated>(body) {
                    Ok(c) => decoded.entry_changes.push((*index, c)),
                    Err(err) => {
                        self.violation(origin, Some(*index), "entry_format", err.to_string());
                    }
                },
                kind::PROCEDURE_MARKED => match credex_protocol::decode::<ProcedureMarked>(body) {
                    Ok(m) => decoded.marked.push((*index, m)),
                    Err(err) => {
                        self.violation(origin, Some(*index), "entry_format", err.to_string());
                    }
                },
                kind::CASE_MARKED => match credex_protocol::decode::<CaseMarked>(body) {
                    Ok(m) => decoded.record_cases.push((*index, m)),
                    Err(err) => {
                        self.violation(origin, Some(*index), "entry_format", err.to_string());
                    }
                },
                kind::RECORDS_CHANGED => match credex_protocol::decode::<RecordsChanged>(body) {
                    Ok(c) => decoded.changes.push((*index, c)),
                    Err(err) => {
                        self.violation(origin, Some(*index), "entry_format", err.to_string());
                    }
                },
                kind::CORRECTIONS_SENT => match credex_protocol::decode::<CorrectionsSent>(body) {
                    Ok(c) => decoded.corrections.push((*index, c)),
                    Err(err) => {
                        self.violation(origin, Some(*index), "entry_format", err.to_string());
                    }
                },
                kind::RECORDS_DISCLOSED => {
                    match credex_protocol::decode::<RecordsDisclosed>(body) {
                        Ok(d) => decoded.disclosures.push((*index, d)),
                        Err(err) => {
                            self.violation(origin, Some(*index), "entry_format", err.to_string());
                        }
                    }
                }
                kind::CREDIT_CHECKED => match credex_protocol::decode::<CreditChecked>(body) {
                    Ok(check) => decoded.credit_checks.push((*index, check)),
                    Err(err) => {
                        self.violation(origin, Some(*index), "entry_format", err.to_string());
                    }
                },
                kind::QUERY_RECEIVED | kind::QUERY_SENT => {
                    match credex_protocol::decode::<AccessEntry>(body) {
                        Ok(e) => {
                            match e.direction {
                                Direction::Received => summary.received += 1,
                                Direction::Sent => summary.sent += 1,
                            }
                            decoded.accesses.push((*index, e));
                        }
                        Err(err) => {
                            self.violation(origin, Some(*index), "entry_format", err.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        decoded
    }

    /// Each received access alone, spread over the cores (the signature
    /// checks are independent of each other), then the releases as a
    /// sequence.
    fn check_received_accesses(
        &mut self,
        dir: &Path,
        origin: &str,
        region: RegionCode,
        decoded: &Decoded<'_>,
        policies: &HashMap<[u8; 32], PolicySet>,
    ) {
        let received: Vec<&(u64, AccessEntry)> = decoded
            .accesses
            .iter()
            .filter(|(_, e)| e.direction == Direction::Received)
            .collect();
        let trust = self.trust;
        let checked = parallel_map(&received, |(index, e)| {
            check_received(trust, dir, origin, region, *index, e, policies)
        });
        let sequence: Vec<Received<'_>> = received
            .iter()
            .zip(&checked)
            .map(|((index, e), (_, facts))| Received {
                index: *index,
                header_ms: decoded.header_times.get(index).copied().unwrap_or(e.at_ms),
                at_ms: e.at_ms,
                digest: &e.query_digest,
                release: facts.as_ref(),
            })
            .collect();
        let in_sequence = check_sequence(origin, &sequence);
        for (found, _) in checked {
            self.report.violations.extend(found);
        }
        self.report.violations.extend(in_sequence);
    }

    /// A query logged as answered must have been logged as about to be
    /// sent.
    fn check_intents(&mut self, origin: &str, decoded: &Decoded<'_>) {
        for (index, e) in &decoded.accesses {
            if e.direction == Direction::Sent && !decoded.intents.contains(&e.query_digest) {
                self.violation(
                    origin,
                    Some(*index),
                    "answer_without_intent",
                    format!(
                        "query {} is logged as answered but was never logged as about to be sent",
                        hex::encode(&e.query_digest[..8])
                    ),
                );
            }
        }
    }

    /// Each federation message entry, spread over the cores, its egress
    /// re-runs counted into `summary`. Returns those that passed their own
    /// checks.
    fn check_messages(
        &mut self,
        dir: &Path,
        origin: &str,
        region: RegionCode,
        message_entries: &[(u64, u16, &[u8])],
        summary: &mut LogSummary,
    ) -> Vec<(u64, MessageEntry)> {
        let mut messages = Vec::new();
        let rules = &self.options.egress_rules;
        let trust = self.trust;
        let checked = parallel_map(message_entries, |(index, kind, body)| {
            (
                *index,
                crate::messages::check_entry(dir, *kind, body, trust, region, rules),
            )
        });
        for (index, result) in checked {
            match result {
                Ok((m, egress)) => {
                    summary.messages += 1;
                    if egress.body_not_kept {
                        // Refused for good; the sender's log re-runs its decision.
                    } else if egress.not_rerun {
                        summary.egress_not_rerun += 1;
                    } else {
                        summary.egress_rerun += 1;
                    }
                    summary.egress_withheld += egress.withheld;
                    for (rule, detail) in egress.findings {
                        self.violation(origin, Some(index), rule, detail);
                    }
                    messages.push((index, m));
                }
                Err((rule, detail)) => self.violation(origin, Some(index), rule, detail),
            }
        }
        messages
    }
}
