//! Fixtures shared by the integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use credex_policies::{AgreementGroups, Catalogue, PolicySet};
use credex_protocol::RegionCode;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

pub const GUIZHOU: &str = include_str!("../../examples/policy-520000.toml");
pub const GUANGDONG: &str = include_str!("../../examples/policy-440000.toml");
pub const CHONGQING: &str = include_str!("../../examples/policy-500000.toml");
pub const GROUPS: &str = include_str!("../../examples/groups.toml");
pub const GUIZHOU_SUPPLEMENT: &str = include_str!("../../examples/catalogue-520000.toml");

pub fn region(code: u32) -> RegionCode {
    RegionCode::from_u32(code).unwrap()
}

/// An instant given as China Standard Time wall-clock time.
pub fn cst(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> OffsetDateTime {
    let date = Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap();
    let time = Time::from_hms(hour, minute, second).unwrap();
    PrimitiveDateTime::new(date, time).assume_offset(credex_policies::policy::CHINA_STANDARD_TIME)
}

pub fn policy(text: &str) -> PolicySet {
    PolicySet::parse(
        text,
        "policy.toml",
        &Catalogue::base(),
        &AgreementGroups::builtin(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// An authorization authority as `REGION/NAME`.
pub fn authority(text: &str) -> credex_policies::ConsentAuthority {
    let (region, name) = text.split_once('/').unwrap();
    credex_policies::ConsentAuthority {
        region: region.parse().unwrap(),
        name: name.parse().unwrap(),
    }
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
