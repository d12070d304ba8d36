//! Accesses at a glance ("look, not read"): how many accesses a set of
//! verified logs holds per China-time day, and per peer region, purpose,
//! officer and category — what a console draws as charts next to the
//! anomalies. Pure counting; a query both sides logged counts once.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::anomalies::{Access, AccessKind};

/// Most days an overview covers (the latest ones).
pub const MAX_DAYS: usize = 90;

/// Counts of accesses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessOverview {
    /// Per China-time day (`YYYY-MM-DD`), from the first to the last day
    /// with an access (at most [`MAX_DAYS`]), days without any included.
    pub days: Vec<(String, u64)>,
    /// Per peer region: who asked (for queries answered), who was asked
    /// (for queries sent); credit checks under `local`.
    pub by_peer: Vec<(String, u64)>,
    /// Per purpose code.
    pub by_purpose: Vec<(String, u64)>,
    /// Per requesting officer (`unverified` when none was verified).
    pub by_officer: Vec<(String, u64)>,
    /// Per category asked for.
    pub by_category: Vec<(String, u64)>,
}

/// The overview of `accesses`.
pub fn overview(accesses: &[Access]) -> AccessOverview {
    let mut seen = BTreeSet::new();
    let unique: Vec<&Access> = accesses
        .iter()
        .filter(|a| a.query_digest.is_none_or(|d| seen.insert(d)))
        .collect();
    let mut days: BTreeMap<String, u64> = BTreeMap::new();
    let (mut peers, mut purposes, mut officers, mut categories) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    for a in &unique {
        *days
            .entry(credex_flows::calendar::china_date_text(a.at_ms))
            .or_insert(0) += 1;
        let peer = match a.kind {
            AccessKind::Received => a.requester_region.to_string(),
            AccessKind::Sent => a.responder_region.to_string(),
            AccessKind::CreditCheck => "local".to_owned(),
        };
        *peers.entry(peer).or_insert(0) += 1;
        *purposes.entry(a.purpose.clone()).or_insert(0) += 1;
        let officer = a
            .requester
            .clone()
            .unwrap_or_else(|| "unverified".to_owned());
        *officers.entry(officer).or_insert(0) += 1;
        for c in &a.categories {
            *categories.entry(c.clone()).or_insert(0) += 1;
        }
    }
    AccessOverview {
        days: every_day(&unique, &days),
        by_peer: ranked(peers),
        by_purpose: ranked(purposes),
        by_officer: ranked(officers),
        by_category: ranked(categories),
    }
}

/// Every day from the first access to the last (the latest [`MAX_DAYS`]).
fn every_day(accesses: &[&Access], counts: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    use credex_flows::calendar::{china_date, date_text};
    let first = accesses.iter().map(|a| a.at_ms).min().and_then(china_date);
    let last = accesses.iter().map(|a| a.at_ms).max().and_then(china_date);
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut day = last;
    while day >= first && out.len() < MAX_DAYS {
        let text = date_text(day);
        out.push((text.clone(), counts.get(&text).copied().unwrap_or(0)));
        match day.previous_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    out.reverse();
    out
}

/// Counts, largest first, then by name.
fn ranked(counts: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::fixtures::{Workload, at};

    #[test]
    fn accesses_are_counted_per_day_peer_purpose_and_officer() {
        let mut log = Workload::default();
        log.add("a", [1; 32], at(0, 10, 0));
        log.add("a", [2; 32], at(0, 11, 0));
        log.add("b", [1; 32], at(2, 9, 0));
        let o = overview(&log.accesses);
        let counts: Vec<u64> = o.days.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, [2, 0, 1], "{:?}", o.days);
        assert_eq!(o.by_officer.len(), 2);
        assert_eq!(o.by_officer[0].1, 2, "largest first");
        assert_eq!(o.by_peer.iter().map(|(_, n)| n).sum::<u64>(), 3);
        assert_eq!(overview(&[]), AccessOverview::default());
    }
}
