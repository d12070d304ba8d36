//! The working-day calendar (工作日历) reporting deadlines are counted in:
//! weekends, listed holidays (法定节假日) and make-up working days (调休),
//! adding and counting working days, and whether a report was on time
//! ([`Timeliness`]) under the counting rule of decision 0401.
//!
//! It knows nothing of categories or deadlines per category: those are the
//! reporting list's ([`super::ReportingList`]).

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;
use time::{Date, Weekday};
use toml::Spanned;

use crate::source::{self, LoadError};

/// The shipped example calendar (`policies/reporting/calendar-2026.toml`).
pub const BUILTIN_CALENDAR_2026_TOML: &str = include_str!("../../reporting/calendar-2026.toml");

/// Whether a report met its deadline (及时性).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeliness {
    /// Reported on or before the deadline day.
    OnTime,
    /// Reported after it: `working_days` is how many working days after the
    /// deadline the report came (a report on a non-working day counts as on
    /// the next working day), at least 1.
    Late {
        /// Working days past the deadline.
        working_days: u32,
    },
}

/// Why a calendar failed to load.
pub type CalendarError = LoadError<CalendarErrorKind>;

/// The reason a calendar failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarErrorKind {
    /// The file could not be read.
    #[error("cannot read calendar: {0}")]
    Read(String),
    /// Not valid TOML, an unknown key, a missing key or a wrong type; the
    /// message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// `example = true` without a note.
    #[error("the calendar is marked example = true but has no note")]
    ExampleWithoutNote,
    /// `years` is empty or lists a year twice or outside 2000–2199.
    #[error("years must list each covered year (2000-2199) once, at least one")]
    BadYears,
    /// A date is not a valid `YYYY-MM-DD` calendar date.
    #[error("{key}: {value:?} is not a valid calendar date YYYY-MM-DD")]
    BadDate {
        /// `holidays` or `working_weekends`.
        key: &'static str,
        /// The text.
        value: String,
    },
    /// A date outside the covered `years`.
    #[error("{0} is not in one of the calendar's years")]
    OutsideYears(String),
    /// A date listed twice (in one list or both).
    #[error("{0} is listed twice (a day is either a holiday or a make-up working day, once)")]
    DuplicateDate(String),
    /// A make-up working day that is not a Saturday or Sunday.
    #[error(
        "working weekend {0} is a weekday; list only Saturdays and Sundays made working days (调休)"
    )]
    WorkingWeekendOnWeekday(String),
}

/// A working-day calendar (工作日历): Monday–Friday are working days except
/// listed holidays; Saturdays and Sundays are not, except listed make-up
/// working days (调休上班). For dates outside the covered years only the
/// weekend rule applies ([`HolidayCalendar::covers`] tells which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayCalendar {
    example: bool,
    years: BTreeSet<i32>,
    holidays: BTreeSet<Date>,
    working_weekends: BTreeSet<Date>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default)]
    example: bool,
    note: Option<String>,
    years: Spanned<Vec<i32>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    #[serde(default)]
    working_weekends: Vec<Spanned<String>>,
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl HolidayCalendar {
    /// The shipped example calendar for 2026 (国务院办公厅关于2026年部分节假日安排的通知).
    pub fn builtin_2026() -> HolidayCalendar {
        static BUILTIN: LazyLock<HolidayCalendar> = LazyLock::new(|| {
            // Invariant: the embedded file is valid; the unit test
            // `shipped_calendar_loads` fails otherwise.
            #[allow(clippy::expect_used)]
            HolidayCalendar::parse(BUILTIN_CALENDAR_2026_TOML, "reporting/calendar-2026.toml")
                .expect("embedded calendar is valid")
        });
        BUILTIN.clone()
    }

    /// Parse a calendar; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<HolidayCalendar, CalendarError> {
        use CalendarErrorKind as K;
        let raw: RawCalendar =
            toml::from_str(text).map_err(|e| LoadError::from_toml(origin, text, &e, K::Toml))?;
        let err = |span: &Range<usize>, kind| LoadError::at(origin, text, span, kind);
        if raw.example && raw.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(LoadError::whole(origin, K::ExampleWithoutNote));
        }
        let mut years = BTreeSet::new();
        let years_ok = raw
            .years
            .get_ref()
            .iter()
            .all(|y| (2000..=2199).contains(y) && years.insert(*y));
        if !years_ok || years.is_empty() {
            return Err(err(&raw.years.span(), K::BadYears));
        }
        let mut seen = BTreeSet::new();
        let mut read = |list: &[Spanned<String>], key: &'static str| {
            let mut out = BTreeSet::new();
            for d in list {
                let value = d.get_ref().clone();
                let Some(date) = source::parse_date(&value) else {
                    return Err(err(&d.span(), K::BadDate { key, value }));
                };
                if !years.contains(&date.year()) {
                    return Err(err(&d.span(), K::OutsideYears(value)));
                }
                if !seen.insert(date) {
                    return Err(err(&d.span(), K::DuplicateDate(value)));
                }
                if key == "working_weekends" && !is_weekend(date) {
                    return Err(err(&d.span(), K::WorkingWeekendOnWeekday(value)));
                }
                out.insert(date);
            }
            Ok(out)
        };
        let holidays = read(&raw.holidays, "holidays")?;
        let working_weekends = read(&raw.working_weekends, "working_weekends")?;
        Ok(HolidayCalendar {
            example: raw.example,
            years,
            holidays,
            working_weekends,
        })
    }

    /// Read and parse a calendar file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<HolidayCalendar, CalendarError> {
        let (text, origin) = source::read_text(path.as_ref(), CalendarErrorKind::Read)?;
        HolidayCalendar::parse(&text, &origin)
    }

    /// Whether the calendar is marked as an example.
    pub fn example(&self) -> bool {
        self.example
    }

    /// Whether `date` falls in a year whose holidays the calendar lists.
    /// Outside them only weekends are days off; the node should warn.
    pub fn covers(&self, date: Date) -> bool {
        self.years.contains(&date.year())
    }

    /// Whether `date` is a working day (工作日).
    pub fn is_working_day(&self, date: Date) -> bool {
        if is_weekend(date) {
            self.working_weekends.contains(&date)
        } else {
            !self.holidays.contains(&date)
        }
    }

    /// The first working day on or after `date`; `None` only at the end of
    /// the representable date range.
    pub fn next_working_day_on_or_after(&self, date: Date) -> Option<Date> {
        let mut d = date;
        while !self.is_working_day(d) {
            d = d.next_day()?;
        }
        Some(d)
    }

    /// The `n`-th working day after `date` (`date` itself never counts;
    /// `n = 0` gives `date`). `None` only at the end of the representable
    /// date range. Runs in O(n) days.
    pub fn add_working_days(&self, date: Date, n: u32) -> Option<Date> {
        let mut d = date;
        let mut left = n;
        while left > 0 {
            d = d.next_day()?;
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        Some(d)
    }

    /// How many working days lie in (`from`, `to`]: after `from`, up to and
    /// including `to`. Zero when `to` is not after `from`. Runs in time
    /// independent of the distance (whole weeks are counted arithmetically).
    pub fn working_days_between(&self, from: Date, to: Date) -> u32 {
        if to <= from {
            return 0;
        }
        let days = (to - from).whole_days();
        let first = i64::from(from.weekday().number_days_from_monday());
        let tail = (1..=days % 7).filter(|d| (first + d) % 7 < 5).count();
        let weekdays = days / 7 * 5 + i64::try_from(tail).unwrap_or(0);
        // Holidays are weekday holidays once weekends are excluded; make-up
        // days are weekend days (validated); the lists never share a day.
        let range = (
            std::ops::Bound::Excluded(from),
            std::ops::Bound::Included(to),
        );
        let off = self
            .holidays
            .range(range)
            .filter(|d| !is_weekend(**d))
            .count();
        let on = self.working_weekends.range(range).count();
        let total = weekdays - i64::try_from(off).unwrap_or(0) + i64::try_from(on).unwrap_or(0);
        u32::try_from(total.max(0)).unwrap_or(u32::MAX)
    }

    /// Whether a record decided on `decision_date` and reported on
    /// `reported_date` met a limit of `limit_working_days` (e.g. 7 for
    /// double publicity, 双公示). The deadline is the `limit_working_days`-th
    /// working day after the decision date (decision 0401); a report on or
    /// before it — including one on, or recorded as before, the decision
    /// date — is on time.
    pub fn timeliness(
        &self,
        decision_date: Date,
        reported_date: Date,
        limit_working_days: u32,
    ) -> Timeliness {
        let Some(deadline) = self.add_working_days(decision_date, limit_working_days) else {
            return Timeliness::OnTime;
        };
        if reported_date <= deadline {
            return Timeliness::OnTime;
        }
        let counted_on = self
            .next_working_day_on_or_after(reported_date)
            .unwrap_or(reported_date);
        Timeliness::Late {
            working_days: self.working_days_between(deadline, counted_on).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Month;

    fn d(y: i32, m: u8, day: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), day).unwrap()
    }

    fn cal() -> HolidayCalendar {
        HolidayCalendar::builtin_2026()
    }

    #[test]
    fn shipped_calendar_loads() {
        let c = cal();
        assert!(c.example() && c.covers(d(2026, 6, 1)) && !c.covers(d(2027, 1, 4)));
        // 33 days off in the 2026 notice; 6 make-up working days.
        assert_eq!((c.holidays.len(), c.working_weekends.len()), (33, 6));
    }

    #[test]
    fn working_days_follow_the_2026_notice() {
        let c = cal();
        assert!(!c.is_working_day(d(2026, 10, 1))); // 国庆
        assert!(!c.is_working_day(d(2026, 2, 17))); // 春节
        assert!(c.is_working_day(d(2026, 10, 10))); // Saturday, 调休上班
        assert!(c.is_working_day(d(2026, 1, 4))); // Sunday, 调休上班
        assert!(!c.is_working_day(d(2026, 3, 7))); // an ordinary Saturday
        assert!(c.is_working_day(d(2026, 3, 9))); // an ordinary Monday
        // Outside the covered year only weekends are off.
        assert!(c.is_working_day(d(2027, 10, 1)));
    }

    #[test]
    fn a_penalty_reported_after_7_working_days_is_late_across_a_weekend_and_a_holiday() {
        let c = cal();
        // Decided Thursday 2026-04-02. Fri 04-03 is working day 1; Sat 04-04
        // to Mon 04-06 are 清明 (Monday a holiday); Tue 04-07 … Fri 04-10 are
        // days 2–5; the weekend 04-11/12 is off; Mon 04-13 is 6, Tue 04-14 is 7.
        let decided = d(2026, 4, 2);
        assert_eq!(c.add_working_days(decided, 7), Some(d(2026, 4, 14)));
        assert_eq!(
            c.timeliness(decided, d(2026, 4, 15), 7),
            Timeliness::Late { working_days: 1 }
        );
        // Counting weekdays alone would have put the deadline on 04-13.
        assert_eq!(c.timeliness(decided, d(2026, 4, 14), 7), Timeliness::OnTime);
        // Three working days late (04-15, 04-16, 04-17).
        assert_eq!(
            c.timeliness(decided, d(2026, 4, 17), 7),
            Timeliness::Late { working_days: 3 }
        );
        // Reported on the Saturday after: counted on Monday 04-20, 4 days late.
        assert_eq!(
            c.timeliness(decided, d(2026, 4, 18), 7),
            Timeliness::Late { working_days: 4 }
        );
    }

    #[test]
    fn on_time_boundaries() {
        let c = cal();
        let decided = d(2026, 3, 2); // an ordinary Monday
        // The decision day does not count: same-day and 7th working day are on time.
        assert_eq!(c.timeliness(decided, decided, 7), Timeliness::OnTime);
        assert_eq!(c.add_working_days(decided, 7), Some(d(2026, 3, 11)));
        assert_eq!(c.timeliness(decided, d(2026, 3, 11), 7), Timeliness::OnTime);
        assert_eq!(
            c.timeliness(decided, d(2026, 3, 12), 7),
            Timeliness::Late { working_days: 1 }
        );
        // A decision on a holiday: the count starts on the next working day.
        assert_eq!(c.add_working_days(d(2026, 10, 3), 1), Some(d(2026, 10, 8)));
        // A limit of 0 means the decision day itself.
        assert_eq!(
            c.timeliness(decided, d(2026, 3, 3), 0),
            Timeliness::Late { working_days: 1 }
        );
    }

    #[test]
    fn a_make_up_working_weekend_counts() {
        let c = cal();
        // Decided Friday 2026-09-18. Sun 09-20 is 调休上班 (1), Mon–Thu 09-21…24
        // are 2–5, Fri 09-25 is 中秋, Mon 09-28 is 6, Tue 09-29 is 7.
        let decided = d(2026, 9, 18);
        assert_eq!(c.add_working_days(decided, 7), Some(d(2026, 9, 29)));
        assert_eq!(c.timeliness(decided, d(2026, 9, 29), 7), Timeliness::OnTime);
        assert_eq!(
            c.timeliness(decided, d(2026, 9, 30), 7),
            Timeliness::Late { working_days: 1 }
        );
        // Across National Day: Thu 10-08, Fri 10-09, Sat 10-10 (调休), Mon 10-12 ….
        assert_eq!(c.add_working_days(d(2026, 9, 30), 3), Some(d(2026, 10, 10)));
        assert_eq!(c.add_working_days(d(2026, 9, 30), 4), Some(d(2026, 10, 12)));
    }

    #[test]
    fn working_days_between_matches_day_by_day_counting() {
        let c = cal();
        let start = d(2025, 12, 20);
        let mut day = start;
        for _ in 0..420 {
            let mut slow = 0;
            let mut x = start;
            while x < day {
                x = x.next_day().unwrap();
                slow += u32::from(c.is_working_day(x));
            }
            assert_eq!(c.working_days_between(start, day), slow, "{day}");
            assert_eq!(c.working_days_between(day, start), 0);
            day = day.next_day().unwrap();
        }
        // And add_working_days is its inverse on working days.
        for n in 0..260 {
            let end = c.add_working_days(start, n).unwrap();
            assert_eq!(c.working_days_between(start, end), n);
        }
    }

    #[test]
    fn bad_calendars_are_refused() {
        let base = "years = [2026]\n";
        let e = HolidayCalendar::parse(
            &format!("{base}working_weekends = [\"2026-10-09\"]\n"),
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(
            e.kind,
            CalendarErrorKind::WorkingWeekendOnWeekday("2026-10-09".into())
        );
        assert!(e.to_string().starts_with("c.toml:2:"), "{e}");
        let e = HolidayCalendar::parse(
            &format!("{base}holidays = [\"2026-10-10\"]\nworking_weekends = [\"2026-10-10\"]\n"),
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(
            e.kind,
            CalendarErrorKind::DuplicateDate("2026-10-10".into())
        );
        let e = HolidayCalendar::parse(&format!("{base}holidays = [\"2027-01-01\"]\n"), "c.toml")
            .unwrap_err();
        assert_eq!(e.kind, CalendarErrorKind::OutsideYears("2027-01-01".into()));
        let e = HolidayCalendar::parse(&format!("{base}holidays = [\"2026-02-30\"]\n"), "c.toml")
            .unwrap_err();
        assert!(matches!(
            e.kind,
            CalendarErrorKind::BadDate {
                key: "holidays",
                ..
            }
        ));
        let e = HolidayCalendar::parse("years = []\n", "c.toml").unwrap_err();
        assert_eq!(e.kind, CalendarErrorKind::BadYears);
        let e = HolidayCalendar::parse(&format!("example = true\n{base}"), "c.toml").unwrap_err();
        assert_eq!(e.kind, CalendarErrorKind::ExampleWithoutNote);
        let e = HolidayCalendar::parse(&format!("{base}holiday = []\n"), "c.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
