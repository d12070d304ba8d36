//! Rule 2, out of hours (非工作时间查询): accesses before
//! [`Thresholds::office_opens_min`] or from [`Thresholds::office_closes_min`]
//! China time (08:30 and 18:00 by default: 18:00:00.000 is out of hours),
//! or on a day that is not a working day of the calendar (weekends,
//! public holidays, but not the make-up working weekends, 调休上班). One
//! anomaly per officer and day, naming every such access of theirs.

use std::collections::BTreeMap;

use credex_flows::calendar::{china_date, china_midnight_ms};
use credex_policies::HolidayCalendar;

use super::access::{Seen, first_and_last_day};
use super::{Anomaly, AnomalyRule, Thresholds};

/// Rule 2 over `seen` (time-ordered): one anomaly per officer and day.
pub(crate) fn find(seen: &[Seen<'_>], calendar: &HolidayCalendar, t: &Thresholds) -> Vec<Anomaly> {
    let opens_ms = i64::from(t.office_opens_min) * 60_000;
    let closes_ms = i64::from(t.office_closes_min) * 60_000;
    // (officer, Julian day) → (whether a working day, their accesses out of hours).
    let mut out: BTreeMap<(&str, i32), (bool, Vec<&Seen<'_>>)> = BTreeMap::new();
    for s in seen {
        let (Some(officer), Some(date)) = (s.officer(), china_date(s.at_ms())) else {
            continue;
        };
        let working = calendar.is_working_day(date);
        let since_midnight = s.at_ms() - china_midnight_ms(date);
        if working && (opens_ms..closes_ms).contains(&since_midnight) {
            continue;
        }
        out.entry((officer, date.to_julian_day()))
            .or_insert((working, Vec::new()))
            .1
            .push(s);
    }
    out.into_iter()
        .map(|((officer, _), (working, accesses))| anomaly(officer, working, &accesses, t))
        .collect()
}

/// The anomaly for `officer`'s `accesses` out of hours on one day.
fn anomaly(officer: &str, working: bool, accesses: &[&Seen<'_>], t: &Thresholds) -> Anomaly {
    let (date, _) = first_and_last_day(accesses);
    let n = accesses.len();
    let (en, zh) = if working {
        let hours = format!(
            "{}–{}",
            clock(t.office_opens_min),
            clock(t.office_closes_min)
        );
        (
            format!(
                "{officer} made {n} accesses on {date} outside office hours ({hours}, China time)."
            ),
            format!("经办人 {officer} 于 {date} 办公时间（{hours}，北京时间）以外查询 {n} 次。"),
        )
    } else {
        (
            format!("{officer} made {n} accesses on {date}, a non-working day (China time)."),
            format!("经办人 {officer} 于非工作日 {date}（北京时间）查询 {n} 次。"),
        )
    };
    Anomaly {
        officer: Some(officer.to_owned()),
        ..Anomaly::raised(AnomalyRule::OutOfHours, accesses, en, zh)
    }
}

/// Minutes after midnight as `HH:MM`.
fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::Access;
    use crate::anomalies::fixtures::{Workload, at, flagged, officer, steady, subject};

    fn out_of_hours(accesses: &[Access]) -> Vec<Anomaly> {
        flagged(accesses, AnomalyRule::OutOfHours)
    }

    #[test]
    fn a_night_query_and_a_weekend_query_are_flagged_with_their_entries() {
        let mut log = steady(40);
        let night = log.accesses.len();
        log.add("a", subject(0, 2, 99), at(2, 22, 15)); // Wednesday 22:15
        log.add("a", subject(0, 2, 98), at(2, 23, 5));
        log.add("b", subject(1, 5, 99), at(5, 10, 0)); // Saturday 10:00
        let found = out_of_hours(&log.accesses);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].officer.as_deref(), Some(officer("a").as_str()));
        assert_eq!(found[0].entries, log.entries(night..night + 2));
        assert!(
            found[0]
                .explanation_en
                .contains("2 accesses on 2026-03-04 outside")
        );
        assert!(found[0].explanation_zh.contains("08:30–18:00"));
        assert_eq!(found[1].officer.as_deref(), Some(officer("b").as_str()));
        assert_eq!(found[1].entries, log.entries(night + 2..night + 3));
        assert!(
            found[1]
                .explanation_en
                .contains("2026-03-07, a non-working day")
        );
        assert!(found[1].explanation_zh.contains("非工作日"));
    }

    #[test]
    fn office_hours_open_at_0830_and_close_at_1800() {
        let mut log = Workload::default();
        let ms = |h, m| at(1, h, m);
        log.add("a", subject(0, 1, 0), ms(8, 30) - 1);
        log.add("a", subject(0, 1, 1), ms(8, 30));
        log.add("a", subject(0, 1, 2), ms(18, 0) - 1);
        log.add("a", subject(0, 1, 3), ms(18, 0));
        let found = out_of_hours(&log.accesses);
        assert_eq!(found.len(), 1);
        let indexes: Vec<u64> = found[0].entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, vec![0, 3]);
    }

    #[test]
    fn holidays_are_out_of_hours_and_make_up_saturdays_are_not() {
        let mut log = Workload::default();
        // Monday 6 April 2026 is a Qingming holiday.
        log.add("a", subject(0, 35, 0), at(35, 10, 0));
        // Saturday 28 February 2026 is worked (调休上班).
        log.add("a", subject(0, -2, 0), at(-2, 10, 0));
        let found = out_of_hours(&log.accesses);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].entries, log.entries(0..1));
        assert!(
            found[0]
                .explanation_en
                .contains("2026-04-06, a non-working day")
        );
    }
}
