//! The upward reporting list and catalogue (数据报送清单 / 归集目录) — what a
//! provincial node reports to the national platform, which fields of each
//! category the platform collects (the rule the egress gate applies to
//! upward batches), and how fast — and the working-day calendar
//! (工作日历) that the deadlines are counted in (docs/design.md §9).
//!
//! Reporting list (`policies/reporting/national.toml`):
//!
//! ```toml
//! example = true
//! note = "…"
//!
//! [[report]]
//! category = "admin_penalty"   # a catalogue category
//! fields = ["decision_number", "facts"]  # or "all_shareable"; never internal
//! within_working_days = 7      # or within_hours = 24
//! double_publicity = true      # 双公示: admin_license and admin_penalty only, ≤ 7 working days
//! ```
//!
//! Calendar (`policies/reporting/calendar-2026.toml`):
//!
//! ```toml
//! example = true
//! note = "…"
//! years = [2026]                            # the years whose holidays are listed
//! holidays = ["2026-10-01", "2026-10-02"]   # 法定节假日 and the days off around them
//! working_weekends = ["2026-10-10"]         # 调休: Saturdays/Sundays that are working days
//! ```
//!
//! Counting rule (decision 0401): a deadline of *n* working days from a
//! decision date is the *n*-th working day after that date; the decision day
//! itself never counts. A report on or before that day is on time.//!
//! Two concerns, one file each: `list` (the reporting list, what and how
//! fast) and `calendar` (the working days deadlines are counted in). This
//! module only re-exports them.

mod calendar;
mod list;

pub use calendar::{
    BUILTIN_CALENDAR_2026_TOML, CalendarError, CalendarErrorKind, HolidayCalendar, Timeliness,
};
pub use list::{
    BUILTIN_REPORTING_TOML, DOUBLE_PUBLICITY_CATEGORIES, DOUBLE_PUBLICITY_WORKING_DAYS, Deadline,
    MAX_HOURS, MAX_WORKING_DAYS, ReportingError, ReportingErrorKind, ReportingItem, ReportingList,
};
