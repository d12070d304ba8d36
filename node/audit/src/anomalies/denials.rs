//! Rule 5, denials rising between two regions (拒绝查询激增): the denied
//! federation queries between two regions, either way, in the last
//! [`Thresholds::window_days`] before now are at least
//! [`Thresholds::denial_factor`] times those of the window before, and at
//! least [`Thresholds::min_denials`]. A peer probing what it may see, or a
//! policy change on one side, shows here first. Credit checks have no
//! peer and are not counted.

use std::collections::BTreeMap;

use credex_flows::calendar::china_date_text;
use credex_protocol::RegionCode;

use super::access::Seen;
use super::{Anomaly, AnomalyRule, Thresholds};

/// Rule 5 over `seen` (time-ordered, none after `now_ms`): one anomaly
/// per pair of regions.
pub(crate) fn find(seen: &[Seen<'_>], now_ms: i64, t: &Thresholds) -> Vec<Anomaly> {
    let last_from = now_ms.saturating_sub(t.window_ms());
    let previous_from = last_from.saturating_sub(t.window_ms());
    // Link → (the last window's denials, the previous window's count).
    let mut links: BTreeMap<[RegionCode; 2], (Vec<&Seen<'_>>, usize)> = BTreeMap::new();
    for s in seen.iter().filter(|s| s.denied()) {
        let Some(link) = s.link() else {
            continue;
        };
        if s.at_ms() > last_from {
            links.entry(link).or_default().0.push(s);
        } else if s.at_ms() > previous_from {
            links.entry(link).or_default().1 += 1;
        }
    }
    links
        .into_iter()
        .filter(|(_, (last, previous))| {
            last.len() >= t.min_denials
                && last.len() as u64 >= u64::from(t.denial_factor) * (*previous as u64)
        })
        .map(|(link, (last, previous))| anomaly(link, &last, previous, now_ms, t))
        .collect()
}

/// The anomaly for the `last` window's denials between the regions of
/// `link`, against `previous` in the window before.
fn anomaly(
    link: [RegionCode; 2],
    last: &[&Seen<'_>],
    previous: usize,
    now_ms: i64,
    t: &Thresholds,
) -> Anomaly {
    let [a, b] = link;
    let (n, w, to) = (last.len(), t.window_days, china_date_text(now_ms));
    let en = format!(
        "{n} queries between regions {a} and {b} were denied in the {w} days to {to} \
             (China time), against {previous} in the {w} days before."
    );
    let zh = format!(
        "截至 {to}（北京时间）的 {w} 天内，{a} 与 {b} 两地之间有 {n} 次查询被拒绝，\
             此前 {w} 天为 {previous} 次。"
    );
    Anomaly {
        regions: Some(link),
        ..Anomaly::raised(AnomalyRule::DenialsRising, last, en, zh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::Access;
    use crate::anomalies::fixtures::{Workload, at, found, guangdong, guizhou, steady, subject};
    use credex_protocol::query::Outcome;

    /// `n` denied queries from Guizhou to Guangdong on `day`.
    fn deny(log: &mut Workload, day: i64, n: i64) {
        for k in 0..n {
            let s = subject(7, day, usize::try_from(k).expect("small"));
            log.add("d", s, at(day, 10, k)).outcome = Outcome::Denied;
        }
    }

    fn rising(accesses: &[Access], now_ms: i64) -> Vec<Anomaly> {
        let t = Thresholds::default();
        found(
            accesses,
            AnomalyRule::DenialsRising,
            now_ms,
            &Default::default(),
            &t,
        )
    }

    #[test]
    fn denials_tripling_in_the_last_week_are_flagged_with_their_entries() {
        let mut log = steady(40);
        let now = at(40, 0, 0);
        // Steady: 5 denials in the week before, 4 in the last (Qingming).
        assert!(rising(&log.accesses, now).is_empty());
        let first = log.accesses.len();
        deny(&mut log, 38, 10);
        assert!(rising(&log.accesses, now).is_empty(), "14 < 3 × 5");
        deny(&mut log, 39, 2);
        let found = rising(&log.accesses, now);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].regions, Some([guangdong(), guizhou()]));
        assert_eq!(found[0].entries.len(), 16);
        let planted = log.entries(first..first + 12);
        assert!(planted.iter().all(|e| found[0].entries.contains(e)));
        assert!(
            found[0]
                .explanation_en
                .starts_with("16 queries between regions 440000 and 520000")
        );
        assert!(
            found[0]
                .explanation_en
                .contains("against 5 in the 7 days before")
        );
        assert!(found[0].explanation_zh.contains("16 次查询被拒绝"));
    }

    #[test]
    fn exactly_the_factor_and_the_minimum_are_flagged() {
        let now = at(14, 0, 0);
        let mut log = Workload::default();
        deny(&mut log, 2, 4);
        deny(&mut log, 9, 11);
        assert!(rising(&log.accesses, now).is_empty(), "11 < 3 × 4");
        deny(&mut log, 10, 1);
        assert_eq!(rising(&log.accesses, now).len(), 1, "12 = 3 × 4");

        let mut log = Workload::default();
        deny(&mut log, 9, 9);
        assert!(rising(&log.accesses, now).is_empty(), "9 < 10, from none");
        deny(&mut log, 10, 1);
        assert_eq!(rising(&log.accesses, now).len(), 1, "10 from none");
    }

    #[test]
    fn the_weeks_are_counted_back_from_now() {
        let mut log = Workload::default();
        deny(&mut log, 9, 12);
        assert_eq!(rising(&log.accesses, at(14, 0, 0)).len(), 1);
        // A week later they are the previous week's.
        assert!(rising(&log.accesses, at(21, 0, 0)).is_empty());
        // Before they happened, they are not seen.
        assert!(rising(&log.accesses, at(9, 0, 0)).is_empty());
    }

    #[test]
    fn denials_either_way_count_for_one_pair_of_regions() {
        let mut log = Workload::default();
        deny(&mut log, 9, 6);
        for k in 0..4 {
            let a = log.add("e", subject(8, 9, k), at(9, 14, 0));
            a.outcome = Outcome::Denied;
            (a.requester_region, a.responder_region) = (guangdong(), guizhou());
        }
        let found = rising(&log.accesses, at(14, 0, 0));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].entries.len(), 10);
    }
}
