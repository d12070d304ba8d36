//! Anomalies (异常) in verified access logs: looking without a reason to
//! read. The checks of [`mod@crate::verify`] prove that every access was
//! authorized and logged; these rules point at authorized accesses a
//! person should look at twice — an officer far above their own usual
//! volume, queries at night or on a holiday, many officers on one
//! subject, one officer sweeping through the companies of one district,
//! denials rising between two regions. An anomaly is not a violation: it
//! is a lead for a person, with the entries that raised it.
//!
//! # The contract
//!
//! - Pure: [`find_anomalies`] reads no clock, does no I/O and draws no
//!   random number. "Now" is [`Context::now_ms`]; accesses after it are
//!   ignored, so the same logs and the same `now` give the same answer.
//! - The input is a slice of [`Access`], one per access entry (a credit
//!   check naming several subjects gives one per subject), built from a
//!   verified export by [`crate::verify::verify_accesses`] or by the node
//!   from its own log with [`Access::from_entry`] and
//!   [`Access::from_credit_check`]. Order does not matter.
//! - A federation query logged by both sides (the requester's sent entry
//!   and the responder's received entry, same query digest) counts once;
//!   the anomaly lists both entries.
//! - Accesses with no verified requesting officer (a bundle whose
//!   signature failed) count only toward denials (rule 5).
//! - Days are China Standard Time days; working days are those of the
//!   [`HolidayCalendar`] passed in (the node's configured calendar).
//! - The output is sorted by rule, then time: the same input always gives
//!   the same list in the same order.
//!
//! One file per rule: [`volume`], [`hours`], [`crowd`], [`group`],
//! [`denials`]. The thresholds are [`Thresholds`]; decision 0910 gives
//! the reasons for their defaults and what rule 4's USCC prefix can see.

use std::collections::BTreeMap;

use credex_policies::HolidayCalendar;
use credex_policies::subject_id::Uscc;
use credex_protocol::RegionCode;
use credex_protocol::query::SubjectRef;
use serde::{Serialize, Serializer};

mod access;
pub mod crowd;
pub mod denials;
pub mod group;
pub mod hours;
pub mod volume;
mod window;

#[cfg(test)]
pub(crate) mod fixtures;

pub use access::{Access, AccessKind, EntryRef};

/// An anomaly rule, by its stable slug (the `rule` of an [`Anomaly`] in
/// JSON and in a console's filters). Ordered as the rules are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyRule {
    /// 1. An officer's accesses on one day far above their own usual
    ///    daily volume ([`volume`]).
    OfficerVolume,
    /// 2. Queries outside office hours or on a non-working day
    ///    ([`hours`]).
    OutOfHours,
    /// 3. Many distinct requesting officers on one subject within a week
    ///    ([`crowd`]).
    OfficersPerSubject,
    /// 4. One officer on many companies registered under one USCC prefix
    ///    within a week ([`group`]).
    CompanyGroup,
    /// 5. Denied queries between two regions rising week on week
    ///    ([`denials`]).
    DenialsRising,
}

impl AnomalyRule {
    /// The stable slug: `officer_volume`, `out_of_hours`,
    /// `officers_per_subject`, `company_group`, `denials_rising`.
    pub fn slug(self) -> &'static str {
        match self {
            AnomalyRule::OfficerVolume => "officer_volume",
            AnomalyRule::OutOfHours => "out_of_hours",
            AnomalyRule::OfficersPerSubject => "officers_per_subject",
            AnomalyRule::CompanyGroup => "company_group",
            AnomalyRule::DenialsRising => "denials_rising",
        }
    }
}

/// One anomaly (异常) found: what rule, what was seen (one sentence in
/// English and in Chinese), whom it concerns and the entries that raised
/// it, for a console to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// The rule that raised it.
    pub rule: AnomalyRule,
    /// Time of the first entry that raised it, Unix ms.
    pub from_ms: i64,
    /// Time of the last entry that raised it, Unix ms.
    pub to_ms: i64,
    /// The requesting officer (经办人) it concerns, `urn:credex:operator:…`
    /// (rules 1, 2 and 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// The two regions of the link it concerns, lower code first (rule
    /// 5); on a node's own console the peer is the one that is not its
    /// own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regions: Option<[RegionCode; 2]>,
    /// The subject digest it concerns (rule 3), hex in JSON.
    #[serde(serialize_with = "digest_hex", skip_serializing_if = "Option::is_none")]
    pub subject: Option<[u8; 32]>,
    /// The USCC prefix of the company group it concerns (rule 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The entries that raised it, by log and index, in order.
    pub entries: Vec<EntryRef>,
    /// What was seen, one sentence in English.
    pub explanation_en: String,
    /// What was seen, one sentence in Chinese (zh-CN).
    pub explanation_zh: String,
}

impl Anomaly {
    /// An anomaly of `rule` raised by `accesses` (time-ordered) that says
    /// `en` and `zh`; the rule sets whom it concerns.
    fn raised(
        rule: AnomalyRule,
        accesses: &[&access::Seen<'_>],
        en: String,
        zh: String,
    ) -> Anomaly {
        Anomaly {
            rule,
            from_ms: accesses.first().map_or(0, |s| s.at_ms()),
            to_ms: accesses.last().map_or(0, |s| s.at_ms()),
            officer: None,
            regions: None,
            subject: None,
            group: None,
            entries: access::entries_of(accesses.iter().copied()),
            explanation_en: en,
            explanation_zh: zh,
        }
    }
}

/// How far above normal is anomalous (异常阈值). Each field's default is
/// the one decision 0910 argues for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Rule 1: a day's count must exceed this many times the officer's
    /// median active-day count. Default 5.
    pub volume_factor: u32,
    /// Rule 1: days of history the median is taken over (the days before
    /// the day judged). Default 30.
    pub history_days: u32,
    /// Rule 1: active days the officer must have in that history, or the
    /// day is not judged (a new officer has no usual volume). Default 5.
    pub min_history_days: usize,
    /// Rule 1: fewest accesses on the day for it to be judged at all.
    /// Default 20.
    pub min_volume: usize,
    /// Rule 2: office hours open, minutes after midnight China time
    /// (inclusive). Default 510 (08:30).
    pub office_opens_min: u32,
    /// Rule 2: office hours close, minutes after midnight China time
    /// (exclusive: 18:00:00.000 is out of hours). Default 1080 (18:00).
    pub office_closes_min: u32,
    /// Rules 3, 4 and 5: the window, in days (24 h each). Rules 3 and 4
    /// look at accesses less than this far apart; rule 5 compares the last
    /// window before now with the one before it. Default 7.
    pub window_days: u32,
    /// Rule 3: distinct requesting officers on one subject within the
    /// window. Default 4.
    pub officers_per_subject: usize,
    /// Rule 4: distinct subjects under one USCC prefix one officer
    /// accessed within the window. Default 10.
    pub group_subjects: usize,
    /// Rule 5: the last window's denials must be at least this many times
    /// the previous window's. Default 3.
    pub denial_factor: u32,
    /// Rule 5: fewest denials in the last window. Default 10.
    pub min_denials: usize,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            volume_factor: 5,
            history_days: 30,
            min_history_days: 5,
            min_volume: 20,
            office_opens_min: 8 * 60 + 30,
            office_closes_min: 18 * 60,
            window_days: 7,
            officers_per_subject: 4,
            group_subjects: 10,
            denial_factor: 3,
            min_denials: 10,
        }
    }
}

impl Thresholds {
    /// The window of rules 3–5 in milliseconds.
    fn window_ms(&self) -> i64 {
        i64::from(self.window_days) * credex_flows::calendar::DAY_MS
    }
}

/// The unified social credit codes (统一社会信用代码) the caller knows, by
/// the subject digest entries name them under. Entries hold digests only;
/// rule 4 sees a subject only if its code is here.
pub type SubjectCodes = BTreeMap<[u8; 32], Uscc>;

/// [`SubjectCodes`] for `codes` (e.g. the legal persons in the node's
/// records, or a list an auditor was given): each keyed by the digest
/// entries name it under ([`credex_journal::subject_digest`]).
pub fn subject_codes(codes: impl IntoIterator<Item = Uscc>) -> SubjectCodes {
    codes
        .into_iter()
        .map(|code| {
            let subject = SubjectRef::LegalPerson(code.as_str().to_owned());
            (credex_journal::subject_digest(&subject), code)
        })
        .collect()
}

/// What the rules are handed besides the accesses.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Now, Unix ms: accesses after it are ignored; rule 5's windows end
    /// here.
    pub now_ms: i64,
    /// The working-day calendar (工作日历) for rule 2.
    pub calendar: &'a HolidayCalendar,
    /// Codes of the subjects the caller knows, for rule 4 (empty: rule 4
    /// finds nothing).
    pub subject_codes: &'a SubjectCodes,
}

/// Every anomaly in `accesses` as of `context.now_ms` under `thresholds`,
/// sorted by rule, then time.
pub fn find_anomalies(
    accesses: &[Access],
    context: &Context<'_>,
    thresholds: &Thresholds,
) -> Vec<Anomaly> {
    let seen = access::merge(accesses, context.now_ms);
    let mut found = volume::find(&seen, thresholds);
    found.extend(hours::find(&seen, context.calendar, thresholds));
    found.extend(crowd::find(&seen, thresholds));
    found.extend(group::find(&seen, context.subject_codes, thresholds));
    found.extend(denials::find(&seen, context.now_ms, thresholds));
    found.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    found
}

/// The order anomalies are listed in: rule, time, then whom they concern.
type SortKey<'a> = (
    AnomalyRule,
    i64,
    i64,
    &'a Option<String>,
    Option<[RegionCode; 2]>,
    Option<[u8; 32]>,
    &'a Option<String>,
    &'a [EntryRef],
);

fn sort_key(a: &Anomaly) -> SortKey<'_> {
    (
        a.rule, a.from_ms, a.to_ms, &a.officer, a.regions, a.subject, &a.group, &a.entries,
    )
}

/// The first 8 bytes of a digest in hex, as subjects are shown.
fn short_hex(digest: &[u8; 32]) -> String {
    hex::encode(&digest[..8])
}

/// A digest as hex, for JSON.
fn digest_hex<S: Serializer>(digest: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
    match digest {
        Some(d) => s.serialize_str(&hex::encode(d)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::fixtures::{NANMING, SPREAD, at, calendar, codes, context, steady};
    use proptest::prelude::*;

    #[test]
    fn a_normal_workload_raises_nothing() {
        let log = steady(40);
        let calendar = calendar();
        let known = codes(&SPREAD);
        for now in [at(10, 0, 0), at(20, 12, 0), at(40, 0, 0), at(60, 0, 0)] {
            let found = find_anomalies(
                &log.accesses,
                &context(now, &calendar, &known),
                &Thresholds::default(),
            );
            assert!(found.is_empty(), "{found:#?}");
        }
    }

    #[test]
    fn anomalies_are_listed_by_rule_then_time() {
        let mut log = steady(40);
        log.add("b", [1; 32], at(30, 23, 0));
        log.add("a", [1; 32], at(2, 23, 0));
        for (k, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            log.add(name, [2; 32], at(3, 10, i64::try_from(k).expect("small")));
        }
        let calendar = calendar();
        let known = codes(&NANMING);
        let found = find_anomalies(
            &log.accesses,
            &context(at(40, 0, 0), &calendar, &known),
            &Thresholds::default(),
        );
        let order: Vec<(&str, i64)> = found.iter().map(|a| (a.rule.slug(), a.from_ms)).collect();
        assert_eq!(
            order,
            [
                ("out_of_hours", at(2, 23, 0)),
                ("out_of_hours", at(30, 23, 0)),
                ("officers_per_subject", at(3, 10, 0)),
            ]
        );
    }

    #[test]
    fn slugs_are_stable() {
        let rules = [
            AnomalyRule::OfficerVolume,
            AnomalyRule::OutOfHours,
            AnomalyRule::OfficersPerSubject,
            AnomalyRule::CompanyGroup,
            AnomalyRule::DenialsRising,
        ];
        for rule in rules {
            let json = format!("\"{}\"", rule.slug());
            assert_eq!(serde_json::to_string(&rule).expect("serializes"), json);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// The same accesses in any order give the same anomalies, each
        /// naming only entries of the input.
        #[test]
        fn the_order_of_the_input_does_not_matter(seed in any::<u64>(), extra in 0usize..60) {
            let mut log = steady(20);
            for k in 0..extra {
                let day = i64::try_from(k % 9).expect("small");
                let name = ["a", "b", "c", "d", "e"][k % 5];
                let code = NANMING[k % NANMING.len()];
                let minute = i64::try_from(k * 37 % 1440).expect("small");
                let a = log.add(name, crate::anomalies::fixtures::digest_of(code), at(day, 0, minute));
                if k % 3 == 0 {
                    a.outcome = credex_protocol::query::Outcome::Denied;
                }
            }
            let calendar = calendar();
            let known = codes(&NANMING);
            let ctx = context(at(12, 0, 0), &calendar, &known);
            let t = Thresholds { min_denials: 3, ..Thresholds::default() };
            let expected = find_anomalies(&log.accesses, &ctx, &t);
            let mut shuffled = log.accesses.clone();
            // A deterministic shuffle from the seed (Fisher–Yates, xorshift).
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, usize::try_from(x % (i as u64 + 1)).expect("small"));
            }
            prop_assert_eq!(&find_anomalies(&shuffled, &ctx, &t), &expected);
            for a in &expected {
                prop_assert!(a.entries.iter().all(|e| log.accesses.iter().any(|x| &x.entry == e)));
            }
        }
    }
}
