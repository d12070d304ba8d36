//! Subjects' rights in time (issue 17, step a): how long a record is
//! published (公示期) before its subject may apply for credit repair
//! (信用修复) and when publication ends by itself, and the working-day
//! deadlines of objections (异议) and repair reviews. Pure: dates in,
//! dates out; the calendar is passed in.
//!
//! The defaults are the national ones as decision 0920 cites them, by
//! catalogue category and, where a sector has its own minimum, by sector.
//! A province may **tighten** them in a TOML table (a longer minimum, a
//! shorter maximum, shorter deadlines), never loosen them:
//!
//! ```toml
//! [objections]
//! accept_working_days = 2
//! decide_working_days = 10
//!
//! [repairs]
//! accept_working_days = 2
//! decide_working_days = 5
//!
//! [[publication]]
//! category = "admin_penalty"
//! sector = "work_safety"          # optional; none = the category's default
//! min_months = 12
//! max_months = 36
//! ```
//!
//! Does not decide whether a repair is granted (a person does), nor send
//! anything (the rights flow will).

use std::collections::BTreeMap;

use serde::Deserialize;
use time::{Date, Month};

use crate::reporting::HolidayCalendar;

/// How long a kind of record is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicationRule {
    /// Months after the decision before a repair may be applied for.
    pub min_months: u32,
    /// Months after the decision when publication ends by itself.
    pub max_months: u32,
}

/// A record's publication, from its decision date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publication {
    /// The first day a repair may be applied for.
    pub repairable_from: Date,
    /// The day publication ends by itself.
    pub ends: Date,
}

/// Where a record stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eligibility {
    /// Its category has no publication period: repair does not apply.
    NotPublished,
    /// Still within the minimum period: no repair before `from`.
    TooEarly {
        /// The first day a repair may be applied for.
        from: Date,
    },
    /// A repair may be applied for; publication ends by itself on `ends`.
    Repairable {
        /// The day publication ends by itself.
        ends: Date,
    },
    /// Publication has ended (on `on`): nothing to repair.
    Ended {
        /// The day it ended.
        on: Date,
    },
}

/// Working-day deadlines of one procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Working days to accept or refuse an application (受理).
    pub accept_working_days: u32,
    /// Working days from acceptance to the decision (办结).
    pub decide_working_days: u32,
}

/// Why a rights table is refused. Each names the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RightsRulesError {
    /// Not TOML of the expected shape.
    #[error("{origin}: {reason}")]
    Malformed {
        /// Where the text came from.
        origin: String,
        /// What the parser said.
        reason: String,
    },
    /// A period's minimum is after its maximum, or either is 0 or over 120.
    #[error(
        "{origin}: publication {key}: min_months {min} and max_months {max} must satisfy 1 <= min <= max <= 120"
    )]
    BadPeriod {
        /// Where.
        origin: String,
        /// `category` or `category/sector`.
        key: String,
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
    },
    /// The table loosens a national rule.
    #[error(
        "{origin}: {key}: {found} loosens the national {national} ({what}); a province may only tighten it"
    )]
    Looser {
        /// Where.
        origin: String,
        /// Which key.
        key: String,
        /// What it says.
        found: u32,
        /// The national figure.
        national: u32,
        /// Which way is tighter.
        what: &'static str,
    },
}

/// The publication periods and deadlines in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsRules {
    /// By (category, sector); sector `None` is the category's default.
    publication: BTreeMap<(String, Option<String>), PublicationRule>,
    /// Objections (异议).
    pub objections: Deadlines,
    /// Repair applications (信用修复).
    pub repairs: Deadlines,
}

/// The catalogue category of serious-dishonesty list entries, whose
/// listing period works like a publication period.
pub const SERIOUS_DISHONESTY: &str = "serious_dishonesty";

/// The class of a serious administrative penalty (严重失信信息), ruled like
/// a sector: see [`penalty_class`].
pub const SERIOUS: &str = "serious";

/// Penalty types (`penalty_type`, 处罚类别) that make a penalty serious
/// dishonesty information: those that stop or bar the business (decision
/// 0980 explains the choice).
pub const SERIOUS_PENALTY_TYPES: [&str; 6] = [
    "降低资质等级",
    "吊销许可证件",
    "限制开展生产经营活动",
    "责令停产停业",
    "责令关闭",
    "限制从业",
];

/// The class an administrative penalty's publication is ruled by: its
/// sector when the sector has a rule of its own ([`ONE_YEAR_SECTORS`]),
/// else [`SERIOUS`] for a serious penalty type, else none (general).
pub fn penalty_class<'a>(sector: Option<&'a str>, penalty_type: Option<&str>) -> Option<&'a str> {
    match sector {
        Some(s) if ONE_YEAR_SECTORS.contains(&s) => Some(s),
        _ if penalty_type.is_some_and(|t| SERIOUS_PENALTY_TYPES.contains(&t)) => Some(SERIOUS),
        _ => None,
    }
}

/// Sectors whose administrative penalties have a one-year minimum.
pub const ONE_YEAR_SECTORS: [&str; 3] = ["special_equipment", "work_safety", "fire_safety"];

impl RightsRules {
    /// The national defaults (decision 0920 cites each).
    pub fn national() -> Self {
        let mut publication = BTreeMap::new();
        // Administrative penalties: general dishonesty information
        // (一般失信信息) 3 months to 1 year, serious (严重失信信息) 1 to 3
        // years (国办发〔2025〕22号; NDRC Order No. 36 of 2025, in force
        // 2026-04-01 — decision 0980).
        publication.insert(
            ("admin_penalty".to_owned(), None),
            PublicationRule {
                min_months: 3,
                max_months: 12,
            },
        );
        publication.insert(
            ("admin_penalty".to_owned(), Some(SERIOUS.to_owned())),
            PublicationRule {
                min_months: 12,
                max_months: 36,
            },
        );
        // The serious-dishonesty list (严重失信主体名单), by the date listed:
        // early removal may be applied for after one year, and the entry
        // is removed after three (decision 0960 cites the source).
        publication.insert(
            (SERIOUS_DISHONESTY.to_owned(), None),
            PublicationRule {
                min_months: 12,
                max_months: 36,
            },
        );
        for sector in ONE_YEAR_SECTORS {
            publication.insert(
                ("admin_penalty".to_owned(), Some(sector.to_owned())),
                PublicationRule {
                    min_months: 12,
                    max_months: 36,
                },
            );
        }
        RightsRules {
            publication,
            objections: Deadlines {
                accept_working_days: 2,
                decide_working_days: 10,
            },
            repairs: Deadlines {
                accept_working_days: 2,
                decide_working_days: 5,
            },
        }
    }

    /// The working-day deadlines of `procedure`.
    pub fn deadlines(&self, procedure: credex_protocol::lists::Procedure) -> Deadlines {
        match procedure {
            credex_protocol::lists::Procedure::Objection => self.objections,
            credex_protocol::lists::Procedure::Repair => self.repairs,
        }
    }

    /// The national rules tightened by the TOML `text` (from `origin`).
    pub fn tightened(text: &str, origin: &str) -> Result<Self, RightsRulesError> {
        let raw: RawRules = toml::from_str(text).map_err(|e| RightsRulesError::Malformed {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let mut rules = RightsRules::national();
        let looser = |key: String, found: u32, national: u32, what| RightsRulesError::Looser {
            origin: origin.to_owned(),
            key,
            found,
            national,
            what,
        };
        for (name, raw, national) in [
            ("objections", raw.objections, &mut rules.objections),
            ("repairs", raw.repairs, &mut rules.repairs),
        ] {
            let Some(raw) = raw else { continue };
            for (key, value, slot) in [
                (
                    "accept_working_days",
                    raw.accept_working_days,
                    &mut national.accept_working_days,
                ),
                (
                    "decide_working_days",
                    raw.decide_working_days,
                    &mut national.decide_working_days,
                ),
            ] {
                let Some(value) = value else { continue };
                if value == 0 || value > *slot {
                    return Err(looser(
                        format!("{name}.{key}"),
                        value,
                        *slot,
                        "at most, and at least 1",
                    ));
                }
                *slot = value;
            }
        }
        for p in raw.publication {
            let key = match &p.sector {
                Some(s) => format!("{}/{s}", p.category),
                None => p.category.clone(),
            };
            if p.min_months == 0 || p.min_months > p.max_months || p.max_months > 120 {
                return Err(RightsRulesError::BadPeriod {
                    origin: origin.to_owned(),
                    key,
                    min: p.min_months,
                    max: p.max_months,
                });
            }
            if let Some(national) = rules.rule(&p.category, p.sector.as_deref()) {
                if p.min_months < national.min_months {
                    return Err(looser(
                        key,
                        p.min_months,
                        national.min_months,
                        "minimum months, at least",
                    ));
                }
                if p.max_months > national.max_months {
                    return Err(looser(
                        key,
                        p.max_months,
                        national.max_months,
                        "maximum months, at most",
                    ));
                }
            }
            rules.publication.insert(
                (p.category, p.sector),
                PublicationRule {
                    min_months: p.min_months,
                    max_months: p.max_months,
                },
            );
        }
        Ok(rules)
    }

    /// The rule for `category` in `sector` (the category's default when
    /// the sector has none of its own).
    pub fn rule(&self, category: &str, sector: Option<&str>) -> Option<PublicationRule> {
        sector
            .and_then(|s| {
                self.publication
                    .get(&(category.to_owned(), Some(s.to_owned())))
            })
            .or_else(|| self.publication.get(&(category.to_owned(), None)))
            .copied()
    }

    /// The publication of a record of `category` (in `sector`) decided on
    /// `decided`; `None` when the category is not published.
    pub fn publication(
        &self,
        category: &str,
        sector: Option<&str>,
        decided: Date,
    ) -> Option<Publication> {
        let rule = self.rule(category, sector)?;
        Some(Publication {
            repairable_from: add_months(decided, rule.min_months),
            ends: add_months(decided, rule.max_months),
        })
    }

    /// Where such a record stands on `today`.
    pub fn eligibility(
        &self,
        category: &str,
        sector: Option<&str>,
        decided: Date,
        today: Date,
    ) -> Eligibility {
        match self.publication(category, sector, decided) {
            None => Eligibility::NotPublished,
            Some(p) if today >= p.ends => Eligibility::Ended { on: p.ends },
            Some(p) if today < p.repairable_from => Eligibility::TooEarly {
                from: p.repairable_from,
            },
            Some(p) => Eligibility::Repairable { ends: p.ends },
        }
    }
}

impl Deadlines {
    /// The last working day to accept an application received on `received`.
    pub fn accept_by(&self, calendar: &HolidayCalendar, received: Date) -> Option<Date> {
        calendar.add_working_days(received, self.accept_working_days)
    }

    /// The last working day to decide an application accepted on `accepted`.
    pub fn decide_by(&self, calendar: &HolidayCalendar, accepted: Date) -> Option<Date> {
        calendar.add_working_days(accepted, self.decide_working_days)
    }
}

/// `date` plus `months` calendar months, the day clamped to the month's
/// length (30 November + 3 months = 28 or 29 February).
pub fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() as i64 * 12 + (date.month() as i64 - 1) + i64::from(months);
    let year = i32::try_from(total.div_euclid(12)).unwrap_or(i32::MAX);
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).unwrap_or(1))
        .unwrap_or(Month::January);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, date.day().min(last)).unwrap_or(Date::MAX)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    objections: Option<RawDeadlines>,
    repairs: Option<RawDeadlines>,
    #[serde(default)]
    publication: Vec<RawPublication>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadlines {
    accept_working_days: Option<u32>,
    decide_working_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublication {
    category: String,
    sector: Option<String>,
    min_months: u32,
    max_months: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    #[test]
    fn months_are_calendar_months_clamped_to_the_month_end() {
        assert_eq!(add_months(date(2026, 11, 30), 3), date(2027, 2, 28));
        assert_eq!(add_months(date(2027, 11, 30), 3), date(2028, 2, 29));
        assert_eq!(add_months(date(2026, 1, 31), 1), date(2026, 2, 28));
        assert_eq!(add_months(date(2026, 12, 4), 36), date(2029, 12, 4));
        assert_eq!(add_months(date(2026, 12, 4), 0), date(2026, 12, 4));
    }

    #[test]
    fn a_penalty_is_repairable_after_its_minimum_and_ends_at_its_maximum() {
        let rules = RightsRules::national();
        let decided = date(2026, 3, 10);
        let e = |today| rules.eligibility("admin_penalty", None, decided, today);
        assert_eq!(
            e(date(2026, 6, 9)),
            Eligibility::TooEarly {
                from: date(2026, 6, 10)
            }
        );
        assert_eq!(
            e(date(2026, 6, 10)),
            Eligibility::Repairable {
                ends: date(2027, 3, 10)
            }
        );
        // General information ends after a year, serious after three.
        assert_eq!(
            e(date(2027, 3, 10)),
            Eligibility::Ended {
                on: date(2027, 3, 10)
            }
        );
        let serious = penalty_class(None, Some("吊销许可证件"));
        assert_eq!(serious, Some(SERIOUS));
        assert_eq!(
            rules.eligibility("admin_penalty", serious, decided, date(2027, 3, 10)),
            Eligibility::Repairable {
                ends: date(2029, 3, 10)
            }
        );
        assert_eq!(penalty_class(None, Some("罚款")), None);
        assert_eq!(
            penalty_class(Some("work_safety"), Some("罚款")),
            Some("work_safety")
        );
        // Work safety waits a year; an unknown sector takes the default.
        assert_eq!(
            rules.eligibility(
                "admin_penalty",
                Some("work_safety"),
                decided,
                date(2026, 12, 1)
            ),
            Eligibility::TooEarly {
                from: date(2027, 3, 10)
            }
        );
        assert_eq!(
            rules.rule("admin_penalty", Some("catering")),
            rules.rule("admin_penalty", None)
        );
        assert_eq!(
            rules.eligibility("tax_credit_rating", None, decided, decided),
            Eligibility::NotPublished
        );
    }

    #[test]
    fn a_province_may_tighten_but_not_loosen() {
        let rules = RightsRules::tightened(
            "[objections]\ndecide_working_days = 7\n\n[[publication]]\ncategory = \"admin_penalty\"\nmin_months = 6\nmax_months = 12\n",
            "rights-520000.toml",
        )
        .unwrap();
        assert_eq!(rules.objections.decide_working_days, 7);
        assert_eq!(rules.objections.accept_working_days, 2);
        assert_eq!(rules.rule("admin_penalty", None).unwrap().min_months, 6);

        for (text, key) in [
            (
                "[objections]\ndecide_working_days = 30\n",
                "objections.decide_working_days",
            ),
            (
                "[repairs]\naccept_working_days = 0\n",
                "repairs.accept_working_days",
            ),
            (
                "[[publication]]\ncategory = \"admin_penalty\"\nmin_months = 1\nmax_months = 12\n",
                "admin_penalty",
            ),
            (
                "[[publication]]\ncategory = \"admin_penalty\"\nsector = \"fire_safety\"\nmin_months = 12\nmax_months = 48\n",
                "admin_penalty/fire_safety",
            ),
        ] {
            let e = RightsRules::tightened(text, "r.toml").unwrap_err();
            assert!(
                matches!(&e, RightsRulesError::Looser { key: k, .. } if k == key),
                "{text}: {e}"
            );
        }
        let e = RightsRules::tightened(
            "[[publication]]\ncategory = \"x\"\nmin_months = 5\nmax_months = 2\n",
            "r.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("publication x"), "{e}");
        let e = RightsRules::tightened("[objection]\n", "r.toml").unwrap_err();
        assert!(e.to_string().starts_with("r.toml:"), "{e}");
    }

    #[test]
    fn deadlines_count_working_days() {
        let calendar = HolidayCalendar::builtin_2026();
        let rules = RightsRules::national();
        // Friday 2026-12-04: two working days later is Tuesday the 8th.
        assert_eq!(
            rules.objections.accept_by(&calendar, date(2026, 12, 4)),
            Some(date(2026, 12, 8))
        );
        // Ten working days from Monday 2026-12-07: Monday the 21st.
        assert_eq!(
            rules.objections.decide_by(&calendar, date(2026, 12, 7)),
            Some(date(2026, 12, 21))
        );
    }

    proptest::proptest! {
        #[test]
        fn adding_months_keeps_order_and_counts_months(
            a in 0i32..200_000, gap in 0i32..5_000, months in 0u32..240,
        ) {
            let base = date(2000, 1, 1);
            let d1 = base + time::Duration::days(i64::from(a));
            let d2 = d1 + time::Duration::days(i64::from(gap));
            let (m1, m2) = (add_months(d1, months), add_months(d2, months));
            proptest::prop_assert!(m1 <= m2, "{d1} {d2} {months}");
            let elapsed = (m1.year() - d1.year()) * 12 + m1.month() as i32 - d1.month() as i32;
            proptest::prop_assert_eq!(elapsed, months as i32);
            proptest::prop_assert!(m1.day() <= d1.day());
        }
    }
}
