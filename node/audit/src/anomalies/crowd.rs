//! Rule 3, many officers on one subject (多人查询同一主体): at least
//! [`Thresholds::officers_per_subject`] distinct requesting officers
//! accessed one subject (by digest) within [`Thresholds::window_days`]
//! (accesses less than that far apart). Overlapping windows are one
//! anomaly, naming every access in them.

use super::access::{Seen, first_and_last_day};
use super::window::{Run, crowded_groups};
use super::{Anomaly, AnomalyRule, Thresholds, short_hex};

/// Rule 3 over `seen` (time-ordered): one anomaly per subject and episode.
pub(crate) fn find(seen: &[Seen<'_>], t: &Thresholds) -> Vec<Anomaly> {
    // Keyed by subject; distinct by officer.
    crowded_groups(
        seen,
        |s| Some((s.access.subject, s.officer()?)),
        t.officers_per_subject,
        t.window_ms(),
    )
    .into_iter()
    .map(|(subject, run)| anomaly(&subject, &run, t))
    .collect()
}

/// The anomaly for a `run` of distinct officers' accesses to `subject`.
fn anomaly(subject: &[u8; 32], run: &Run<'_, '_>, t: &Thresholds) -> Anomaly {
    let (from, to) = first_and_last_day(&run.accesses);
    let (officers, short) = (run.distinct, short_hex(subject));
    let (min, w) = (t.officers_per_subject, t.window_days);
    let en = format!(
        "{officers} different officers accessed subject {short} from {from} to {to} \
             (China time), at least {min} of them within {w} days."
    );
    let zh = format!(
        "{from} 至 {to}（北京时间）有 {officers} 名不同经办人查询了主体 {short}，\
             其中至少 {min} 名在 {w} 天之内。"
    );
    Anomaly {
        subject: Some(*subject),
        ..Anomaly::raised(AnomalyRule::OfficersPerSubject, &run.accesses, en, zh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::Access;
    use crate::anomalies::fixtures::{Workload, at, flagged, steady};

    const SUBJECT: [u8; 32] = [0x5A; 32];

    fn crowd(accesses: &[Access]) -> Vec<Anomaly> {
        flagged(accesses, AnomalyRule::OfficersPerSubject)
    }

    /// Each officer's access to [`SUBJECT`] on a day at 10:00.
    fn visits(log: &mut Workload, visits: &[(i64, &str)]) {
        for (day, name) in visits {
            log.add(name, SUBJECT, at(*day, 10, 0));
        }
    }

    #[test]
    fn four_officers_on_one_subject_in_a_week_are_flagged_with_their_entries() {
        let mut log = steady(40);
        let first = log.accesses.len();
        visits(&mut log, &[(10, "a"), (11, "b"), (13, "c"), (16, "d")]);
        let found = crowd(&log.accesses);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].subject, Some(SUBJECT));
        assert_eq!(found[0].entries, log.entries(first..first + 4));
        assert!(found[0].explanation_en.starts_with("4 different officers"));
        assert!(found[0].explanation_zh.contains("4 名不同经办人"));
    }

    #[test]
    fn three_officers_or_one_officer_four_times_is_not_flagged() {
        let mut log = steady(40);
        visits(&mut log, &[(10, "a"), (11, "b"), (12, "c"), (13, "a")]);
        assert!(crowd(&log.accesses).is_empty());
    }

    #[test]
    fn officers_a_whole_week_apart_are_not_within_a_week() {
        let mut log = steady(40);
        visits(&mut log, &[(10, "a"), (11, "b"), (12, "c"), (17, "d")]);
        assert!(crowd(&log.accesses).is_empty());
        log.accesses.last_mut().expect("one").at_ms -= 1;
        assert_eq!(crowd(&log.accesses).len(), 1);
    }

    #[test]
    fn a_query_both_logs_hold_counts_once_and_names_both_entries() {
        let mut log = steady(40);
        visits(&mut log, &[(10, "a"), (11, "b"), (12, "c")]);
        log.add_both("c", SUBJECT, at(13, 10, 0));
        assert!(crowd(&log.accesses).is_empty());
        log.add_both("d", SUBJECT, at(13, 11, 0));
        let found = crowd(&log.accesses);
        assert_eq!(found.len(), 1);
        assert!(found[0].explanation_en.starts_with("4 different officers"));
        let logs: Vec<&str> = found[0].entries.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, ["req", "req", "resp", "resp", "resp", "resp", "resp"]);
    }
}
