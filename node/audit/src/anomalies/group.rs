//! Rule 4, one officer on a company group (单人批量查询同类企业): one
//! officer accessed at least [`Thresholds::group_subjects`] distinct
//! subjects within [`Thresholds::window_days`] whose unified social credit
//! codes share their first 8 characters — registration authority (1),
//! entity type (1) and the registering authority's division (6).
//!
//! The 8-character key is a proxy: it groups companies of one kind
//! registered in one district, not companies linked by ownership
//! (decision 0910 says what it can and cannot see). Entries hold subject
//! digests only, so the rule sees a subject only when the caller's
//! [`SubjectCodes`] hold its code; natural persons never have one.

use super::access::{Seen, first_and_last_day};
use super::window::{Run, crowded_groups};
use super::{Anomaly, AnomalyRule, SubjectCodes, Thresholds};

/// Characters of a USCC that name its group: registration authority,
/// entity type, division.
pub const GROUP_PREFIX_LEN: usize = 8;

/// Rule 4 over `seen` (time-ordered): one anomaly per officer, group and
/// episode.
pub(crate) fn find(seen: &[Seen<'_>], codes: &SubjectCodes, t: &Thresholds) -> Vec<Anomaly> {
    let group = |s: &Seen<'_>| {
        let code = codes.get(&s.access.subject)?.as_str();
        // A USCC is 18 ASCII characters; the whole code is the fallback.
        Some(code.get(..GROUP_PREFIX_LEN).unwrap_or(code))
    };
    // Keyed by officer and group; distinct by subject.
    crowded_groups(
        seen,
        |s| Some(((s.officer()?, group(s)?), s.access.subject)),
        t.group_subjects,
        t.window_ms(),
    )
    .into_iter()
    .map(|((officer, group), run)| anomaly(officer, group, &run, t))
    .collect()
}

/// The anomaly for `officer`'s `run` of accesses to distinct subjects of
/// `group`.
fn anomaly(officer: &str, group: &str, run: &Run<'_, '_>, t: &Thresholds) -> Anomaly {
    let (from, to) = first_and_last_day(&run.accesses);
    let (subjects, min, w) = (run.distinct, t.group_subjects, t.window_days);
    let en = format!(
        "{officer} accessed {subjects} different subjects whose unified social credit codes \
             start {group} (same registration authority, entity type and district) from {from} \
             to {to} (China time), at least {min} of them within {w} days."
    );
    let zh = format!(
        "经办人 {officer} 于 {from} 至 {to}（北京时间）查询了统一社会信用代码前八位为 {group}\
             （同一登记管理部门、机构类别和行政区划）的 {subjects} 个不同主体，其中至少 {min} 个在 \
             {w} 天之内。"
    );
    Anomaly {
        officer: Some(officer.to_owned()),
        group: Some(group.to_owned()),
        ..Anomaly::raised(AnomalyRule::CompanyGroup, &run.accesses, en, zh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::Access;
    use crate::anomalies::fixtures::{
        NANMING, SPREAD, Workload, at, codes, digest_of, found, later, officer, steady,
    };

    fn groups(accesses: &[Access], known: &SubjectCodes) -> Vec<Anomaly> {
        let t = Thresholds::default();
        found(accesses, AnomalyRule::CompanyGroup, later(), known, &t)
    }

    fn known() -> SubjectCodes {
        let mut known = codes(&SPREAD);
        known.extend(codes(&NANMING));
        known
    }

    /// Officer b's accesses to the first `n` Nanming companies, two a day
    /// from `day`.
    fn sweep(log: &mut Workload, day: i64, n: usize) {
        for (k, code) in NANMING.iter().take(n).enumerate() {
            let k = i64::try_from(k).expect("small");
            log.add("b", digest_of(code), at(day + k / 2, 11, k));
        }
    }

    #[test]
    fn ten_companies_of_one_district_in_a_week_are_flagged_with_their_entries() {
        let mut log = steady(40);
        let first = log.accesses.len();
        sweep(&mut log, 15, 10);
        let found = groups(&log.accesses, &known());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].officer.as_deref(), Some(officer("b").as_str()));
        assert_eq!(found[0].group.as_deref(), Some("91520102"));
        assert_eq!(found[0].entries, log.entries(first..first + 10));
        assert!(found[0].explanation_en.contains("10 different subjects"));
        assert!(found[0].explanation_zh.contains("10 个不同主体"));
    }

    #[test]
    fn nine_companies_or_one_company_ten_times_is_not_flagged() {
        let mut log = steady(40);
        sweep(&mut log, 15, 9);
        for k in 0..10 {
            log.add("c", digest_of(NANMING[0]), at(15, 12, k));
        }
        assert!(groups(&log.accesses, &known()).is_empty());
    }

    #[test]
    fn companies_a_whole_week_apart_are_not_within_a_week() {
        let mut log = Workload::default();
        for (k, code) in NANMING.iter().take(10).enumerate() {
            let day = if k < 5 { 1 } else { 8 };
            log.add("b", digest_of(code), at(day, 11, 0));
        }
        assert!(groups(&log.accesses, &known()).is_empty());
    }

    #[test]
    fn without_the_codes_the_rule_sees_nothing() {
        let mut log = steady(40);
        sweep(&mut log, 15, 12);
        assert!(groups(&log.accesses, &SubjectCodes::new()).is_empty());
        assert_eq!(groups(&log.accesses, &codes(&NANMING)).len(), 1);
    }
}
