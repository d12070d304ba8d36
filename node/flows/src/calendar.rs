//! Time as the flows need it: Unix milliseconds (what entries and messages
//! carry) converted to certificate-validity time, to calendar time, and to
//! China Standard Time (UTC+8) days — quota windows, list deadlines and
//! reporting dates end at midnight in China, whatever the server's zone.

use std::time::Duration;

use credex_policies::reporting::HolidayCalendar;
use rustls_pki_types::UnixTime;
use time::{Date, OffsetDateTime};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// China Standard Time's offset from UTC, in milliseconds.
pub const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Unix milliseconds as the time certificates and CRLs are judged at
/// (before the epoch counts as the epoch).
pub fn unix_time(ms: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// Unix milliseconds as a calendar time (clamped to `time`'s range).
pub fn ms_time(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(if ms < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        time::PrimitiveDateTime::MAX.assume_utc()
    })
}

/// Unix milliseconds of a calendar time.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The China Standard Time calendar day of `unix_ms` (none beyond the
/// dates `time` represents).
pub fn china_date(unix_ms: i64) -> Option<Date> {
    let day = unix_ms.saturating_add(CST_OFFSET_MS).div_euclid(DAY_MS);
    let julian = i32::try_from(UNIX_EPOCH_JULIAN_DAY.checked_add(day)?).ok()?;
    Date::from_julian_day(julian).ok()
}

/// The China Standard Time calendar day of `unix_ms` as `YYYY-MM-DD`
/// (`9999-12-31` beyond the representable dates).
pub fn china_date_text(unix_ms: i64) -> String {
    match china_date(unix_ms) {
        Some(d) => date_text(d),
        None => "9999-12-31".into(),
    }
}

/// A date as `YYYY-MM-DD`.
pub fn date_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Unix milliseconds of midnight, China Standard Time, starting `day`.
pub fn china_midnight_ms(day: Date) -> i64 {
    (i64::from(day.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY) * DAY_MS - CST_OFFSET_MS
}

/// The last day (`YYYY-MM-DD`, China time) of a deadline `days` working
/// days after the China day of `at_ms` (`9999-12-31` beyond the calendar).
pub fn deadline_date(calendar: &HolidayCalendar, at_ms: i64, days: u32) -> String {
    china_date(at_ms)
        .and_then(|d| calendar.add_working_days(d, days))
        .map_or_else(|| "9999-12-31".into(), date_text)
}

/// Start of the quota window containing `now`: midnight China Standard Time.
pub fn quota_window_start_ms(now: OffsetDateTime) -> i64 {
    china_date(unix_ms(now)).map_or(i64::MAX, china_midnight_ms)
}

/// A date written `YYYY-MM-DD` (surrounding spaces and unpadded months or
/// days are accepted, as records from provincial systems carry them).
pub fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

/// The deadline `days` working days after `at_ms`: the end (midnight, China
/// Standard Time) of the `days`-th working day of `calendar` after the day
/// of `at_ms` (that day itself does not count, decision 0401). Beyond the
/// representable dates, never (`i64::MAX`).
pub fn working_days_after(calendar: &HolidayCalendar, at_ms: i64, days: u32) -> i64 {
    china_date(at_ms)
        .and_then(|d| calendar.add_working_days(d, days))
        .and_then(|d| d.next_day())
        .map_or(i64::MAX, china_midnight_ms)
}

/// Where "now" comes from. The node reads the wall clock in one place
/// (its `SystemClock`) and hands that clock to its store, its federation
/// and its flows; tests and the simulator hand in a clock they control.
/// The flows themselves never hold one: they are handed `now`.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_clamp_at_the_epoch() {
        assert_eq!(unix_time(-5).as_secs(), 0);
        assert_eq!(unix_time(1_500).as_secs(), 1);
        assert_eq!(unix_ms(ms_time(1_700_000_000_123)), 1_700_000_000_123);
        assert_eq!(ms_time(i64::MIN), OffsetDateTime::UNIX_EPOCH);
    }

    #[test]
    fn china_days_start_at_midnight_in_china() {
        // 2026-11-22 20:00 UTC is 2026-11-23 04:00 in China.
        let ms = 1_795_377_600_000;
        let day = china_date(ms).expect("a representable day");
        assert_eq!(china_date_text(ms), "2026-11-23");
        assert_eq!(china_date_text(i64::MAX), "9999-12-31");
        // The day started at 2026-11-22 16:00 UTC.
        assert_eq!(china_midnight_ms(day), 1_795_363_200_000);
        assert_eq!(quota_window_start_ms(ms_time(ms)), 1_795_363_200_000);
        // An instant just before midnight in China is still the day before.
        assert_eq!(china_date_text(1_795_363_200_000 - 1), "2026-11-22");
    }

    #[test]
    fn dates_parse_strictly_enough() {
        assert_eq!(
            parse_date(" 2026-1-5 ").map(date_text).as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("x"), None);
    }

    const MONDAY_NOON_CST: i64 = 1_763_956_800_000; // 2025-11-24 12:00 +08:00

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let cal = HolidayCalendar::builtin_2026();
        let working_days_after = |at, n| super::working_days_after(&cal, at, n);
        assert_eq!(china_date_text(MONDAY_NOON_CST), "2025-11-24");
        // Five working days after Monday: the next Monday, ending at
        // Tuesday 00:00 CST.
        let due = working_days_after(MONDAY_NOON_CST, 5);
        assert_eq!(china_date_text(due), "2025-12-02");
        assert_eq!(china_date_text(due - 1), "2025-12-01");
        // One working day after a Friday is the Monday.
        let friday = MONDAY_NOON_CST + 4 * DAY_MS;
        assert_eq!(china_date_text(friday), "2025-11-28");
        assert_eq!(
            china_date_text(working_days_after(friday, 1) - 1),
            "2025-12-01"
        );
        // Zero days: the end of the same day.
        assert_eq!(
            china_date_text(working_days_after(friday, 0) - 1),
            "2025-11-28"
        );
        // National Day 2026: 1–7 October off, Saturday 10 October worked.
        // Three working days after Wednesday 30 September: 8, 9, 10 October.
        let sep30 = MONDAY_NOON_CST + 310 * DAY_MS;
        assert_eq!(china_date_text(sep30), "2026-09-30");
        assert_eq!(
            china_date_text(working_days_after(sep30, 3) - 1),
            "2026-10-10"
        );
        // An instant late in the evening UTC is already the next day in China.
        assert_eq!(
            china_date_text(MONDAY_NOON_CST + 12 * 3_600_000),
            "2025-11-25"
        );
    }
}
