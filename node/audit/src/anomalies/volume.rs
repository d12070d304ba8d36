//! Rule 1, officer volume (查询量异常): an officer's accesses on one China
//! day far above their own usual volume. Usual is the median count of the
//! days they were active in the [`Thresholds::history_days`] before; a
//! day is judged only with [`Thresholds::min_history_days`] such days and
//! at least [`Thresholds::min_volume`] accesses, and flagged when its
//! count is more than [`Thresholds::volume_factor`] times the median.

use std::collections::BTreeMap;

use credex_flows::calendar::china_date;

use super::access::{Seen, first_and_last_day};
use super::{Anomaly, AnomalyRule, Thresholds};

/// Rule 1 over `seen` (time-ordered): one anomaly per officer and day.
pub(crate) fn find(seen: &[Seen<'_>], t: &Thresholds) -> Vec<Anomaly> {
    // Officer → Julian day (China time) → their accesses that day.
    let mut days: BTreeMap<&str, BTreeMap<i32, Vec<&Seen<'_>>>> = BTreeMap::new();
    for s in seen {
        let (Some(officer), Some(date)) = (s.officer(), china_date(s.at_ms())) else {
            continue;
        };
        days.entry(officer)
            .or_default()
            .entry(date.to_julian_day())
            .or_default()
            .push(s);
    }
    let history_days = i32::try_from(t.history_days).unwrap_or(i32::MAX);
    let mut found = Vec::new();
    for (officer, by_day) in &days {
        for (&day, accesses) in by_day {
            if accesses.len() < t.min_volume {
                continue;
            }
            let history: Vec<usize> = by_day
                .range(day.saturating_sub(history_days)..day)
                .map(|(_, a)| a.len())
                .collect();
            if history.len() < t.min_history_days {
                continue;
            }
            let median = Median::of(history);
            let count = accesses.len() as u64;
            if count * 2 > u64::from(t.volume_factor) * median.twice {
                found.push(anomaly(officer, accesses, &median, t));
            }
        }
    }
    found
}

/// The median of an officer's active-day counts, kept doubled so that the
/// median of an even number of days stays an integer.
struct Median {
    /// Twice the median.
    twice: u64,
    /// Active days it is taken over.
    days: usize,
}

impl Median {
    /// The median of `counts` (0 for none, with `min_history_days` 0).
    fn of(mut counts: Vec<usize>) -> Median {
        counts.sort_unstable();
        let n = counts.len();
        let at = |i: usize| counts.get(i).map_or(0, |&c| c as u64);
        let twice = if n % 2 == 1 {
            2 * at(n / 2)
        } else {
            at((n / 2).saturating_sub(1)) + at(n / 2)
        };
        Median { twice, days: n }
    }

    /// As text: `10` or `3.5`.
    fn text(&self) -> String {
        if self.twice.is_multiple_of(2) {
            (self.twice / 2).to_string()
        } else {
            format!("{}.5", self.twice / 2)
        }
    }
}

/// The anomaly for `officer`'s `accesses` on one day.
fn anomaly(officer: &str, accesses: &[&Seen<'_>], median: &Median, t: &Thresholds) -> Anomaly {
    let (date, _) = first_and_last_day(accesses);
    let (n, m, days, factor, h) = (
        accesses.len(),
        median.text(),
        median.days,
        t.volume_factor,
        t.history_days,
    );
    let en = format!(
        "{officer} made {n} accesses on {date} (China time), more than {factor} times their \
             median of {m} a day over their {days} active days in the previous {h} days."
    );
    let zh = format!(
        "经办人 {officer} 于 {date}（北京时间）查询 {n} 次，超过其前 {h} 天内 {days} 个查询日\
             日均中位数 {m} 次的 {factor} 倍。"
    );
    Anomaly {
        officer: Some(officer.to_owned()),
        ..Anomaly::raised(AnomalyRule::OfficerVolume, accesses, en, zh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::Access;
    use crate::anomalies::fixtures::{Workload, at, found, later, officer, steady, subject};
    use credex_flows::calendar::china_date_text;

    /// Officer `name`'s `count` accesses on `day`, from 10:00.
    fn daily(log: &mut Workload, name: &str, day: i64, count: usize) {
        for k in 0..count {
            let minute = i64::try_from(k % 400).expect("small");
            log.add(name, subject(9, day, k), at(day, 10, minute));
        }
    }

    fn volume(accesses: &[Access], t: &Thresholds) -> Vec<Anomaly> {
        found(
            accesses,
            AnomalyRule::OfficerVolume,
            later(),
            &Default::default(),
            t,
        )
    }

    #[test]
    fn a_day_far_above_the_officers_median_is_flagged_with_its_entries() {
        let mut log = steady(40);
        let before = log.accesses.len();
        // Tuesday 7 April (day 36): officer b, usually 10 a day, does 60 more.
        daily(&mut log, "b", 36, 60);
        let found = volume(&log.accesses, &Thresholds::default());
        assert_eq!(found.len(), 1, "{found:#?}");
        let a = &found[0];
        assert_eq!(a.officer.as_deref(), Some(officer("b").as_str()));
        let mut expected: Vec<_> = log
            .accesses
            .iter()
            .filter(|x| x.requester == a.officer && china_date_text(x.at_ms) == "2026-04-07")
            .map(|x| x.entry.clone())
            .collect();
        expected.sort();
        assert_eq!(a.entries.len(), 70);
        assert_eq!(a.entries, expected);
        assert_eq!(a.entries[69].index as usize, before + 59);
        assert!(a.explanation_en.contains("70 accesses on 2026-04-07"));
        assert!(a.explanation_en.contains("median of 10"));
        assert!(a.explanation_zh.contains("查询 70 次"));
    }

    #[test]
    fn exactly_factor_times_the_median_is_not_flagged() {
        let mut log = steady(40);
        daily(&mut log, "b", 36, 40); // 50 = 5 × 10
        assert!(volume(&log.accesses, &Thresholds::default()).is_empty());
        daily(&mut log, "b", 36, 1); // 51
        assert_eq!(volume(&log.accesses, &Thresholds::default()).len(), 1);
    }

    #[test]
    fn a_first_day_or_a_short_history_is_not_judged() {
        let mut log = Workload::default();
        daily(&mut log, "n", 0, 500);
        assert!(volume(&log.accesses, &Thresholds::default()).is_empty());
        let mut log = Workload::default();
        for day in 0..4 {
            daily(&mut log, "n", day, 2);
        }
        daily(&mut log, "n", 4, 100);
        assert!(volume(&log.accesses, &Thresholds::default()).is_empty());
        // A fifth active day 31 days before is outside the history; one
        // 30 days before is in it, and the day is judged.
        daily(&mut log, "n", 4 - 31, 2);
        assert!(volume(&log.accesses, &Thresholds::default()).is_empty());
        daily(&mut log, "n", 4 - 30, 2);
        assert_eq!(volume(&log.accesses, &Thresholds::default()).len(), 1);
    }

    #[test]
    fn a_day_below_the_minimum_volume_is_not_judged() {
        let mut log = Workload::default();
        for day in 0..10 {
            daily(&mut log, "n", day, 1);
        }
        daily(&mut log, "n", 10, 19);
        assert!(volume(&log.accesses, &Thresholds::default()).is_empty());
        daily(&mut log, "n", 10, 1);
        assert_eq!(volume(&log.accesses, &Thresholds::default()).len(), 1);
    }

    #[test]
    fn the_median_of_an_even_number_of_days_is_their_middle_mean() {
        let mut log = Workload::default();
        for (day, count) in [1, 2, 3, 4, 5, 6].into_iter().enumerate() {
            daily(&mut log, "n", i64::try_from(day).expect("small"), count);
        }
        let t = Thresholds {
            min_volume: 0,
            ..Thresholds::default()
        };
        daily(&mut log, "n", 6, 17); // 17 ≤ 5 × 3.5
        assert!(volume(&log.accesses, &t).is_empty());
        daily(&mut log, "n", 6, 1);
        let found = volume(&log.accesses, &t);
        assert_eq!(found.len(), 1);
        assert!(found[0].explanation_en.contains("median of 3.5"));
    }
}
