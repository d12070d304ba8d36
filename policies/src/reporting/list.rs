//! The upward reporting list (数据报送清单 / 归集目录): which categories a
//! provincial node reports to the national platform, which fields of each
//! the platform collects (what the egress gate releases upward), how fast
//! (working days or hours), and the double-publicity rule (双公示).
//!
//! It does not count working days or judge whether a report was on time:
//! that is the calendar's ([`super::HolidayCalendar`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;
use toml::Spanned;

use crate::canonical::Canon;
use crate::catalogue::{Catalogue, SensitivityClass};
use crate::source::{self, LoadError};

/// The shipped reporting list (`policies/reporting/national.toml`).
pub const BUILTIN_REPORTING_TOML: &str = include_str!("../../reporting/national.toml");

/// The double-publicity limit (双公示): administrative licensing and penalty
/// decisions are reported within 7 working days of the decision date.
pub const DOUBLE_PUBLICITY_WORKING_DAYS: u32 = 7;
/// Categories subject to double publicity (双公示).
pub const DOUBLE_PUBLICITY_CATEGORIES: [&str; 2] = ["admin_license", "admin_penalty"];
/// Longest deadline in working days (about a year).
pub const MAX_WORKING_DAYS: u32 = 250;
/// Longest deadline in hours (30 days).
pub const MAX_HOURS: u32 = 720;

/// How fast a category must be reported (报送时限).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deadline {
    /// Within this many working days after the decision date
    /// ([`HolidayCalendar::timeliness`](super::HolidayCalendar::timeliness)).
    WorkingDays(u32),
    /// Within this many hours of the record being made (the node measures it
    /// from the record's timestamp).
    Hours(u32),
}

/// One category on the reporting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingItem {
    /// The catalogue category code.
    pub category: String,
    /// The deadline.
    pub deadline: Deadline,
    /// Whether the records fall under double publicity (双公示).
    pub double_publicity: bool,
    /// The fields of the category the national platform collects (归集字段):
    /// what the egress gate releases upward. Never an `internal` field; a
    /// `restricted` one only where the file names it.
    pub fields: BTreeSet<String>,
}

/// Why a reporting list failed to load.
pub type ReportingError = LoadError<ReportingErrorKind>;

/// The reason a reporting list failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportingErrorKind {
    /// The file could not be read.
    #[error("cannot read reporting list: {0}")]
    Read(String),
    /// Not valid TOML, an unknown key, a missing key or a wrong type; the
    /// message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// `example = true` without a note.
    #[error("the reporting list is marked example = true but has no note")]
    ExampleWithoutNote,
    /// A category the catalogue does not define.
    #[error("unknown category {0:?} (not in the catalogue)")]
    UnknownCategory(String),
    /// A category listed twice.
    #[error("category {0:?} is listed twice")]
    DuplicateCategory(String),
    /// Neither or both of `within_working_days` and `within_hours`.
    #[error("category {0:?}: give exactly one of within_working_days and within_hours")]
    DeadlineChoice(String),
    /// A deadline of zero or beyond [`MAX_WORKING_DAYS`] / [`MAX_HOURS`].
    #[error(
        "category {0:?}: within_working_days must be 1 to {MAX_WORKING_DAYS}, within_hours 1 to {MAX_HOURS}"
    )]
    DeadlineOutOfRange(String),
    /// `double_publicity` on a category that is not administrative licensing or penalty.
    #[error(
        "category {0:?}: double_publicity (双公示) applies only to admin_license and admin_penalty"
    )]
    NotDoublePublicity(String),
    /// `admin_license` or `admin_penalty` without `double_publicity = true`.
    #[error("category {0:?} is under double publicity (双公示): set double_publicity = true")]
    DoublePublicityMissing(String),
    /// `fields` names a field the category lacks, an `internal` field, or
    /// an unknown keyword.
    #[error("category {category:?}: fields: {reason}")]
    BadFields {
        /// The category.
        category: String,
        /// What is wrong.
        reason: String,
    },
    /// A double-publicity category with a looser deadline than 7 working days.
    #[error(
        "category {0:?}: double publicity (双公示) requires within_working_days of at most {DOUBLE_PUBLICITY_WORKING_DAYS}"
    )]
    DoublePublicityTooSlow(String),
}

/// A loaded, validated reporting list (数据报送清单).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingList {
    example: bool,
    items: BTreeMap<String, ReportingItem>,
    hash: [u8; 32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReportingList {
    #[serde(default)]
    example: bool,
    note: Option<String>,
    #[serde(default)]
    report: Vec<RawReport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    category: Spanned<String>,
    within_working_days: Option<u32>,
    within_hours: Option<u32>,
    #[serde(default)]
    double_publicity: bool,
    fields: Spanned<RawFields>,
}

/// `fields = "all_shareable"` (every `public` and `shared` field) or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawFields {
    Keyword(String),
    List(Vec<String>),
}

impl ReportingList {
    /// The shipped list, validated against [`Catalogue::base`].
    pub fn builtin() -> ReportingList {
        static BUILTIN: LazyLock<ReportingList> = LazyLock::new(|| {
            // Invariant: the embedded file is valid against the base
            // catalogue; the unit test `shipped_list_loads` fails otherwise.
            #[allow(clippy::expect_used)]
            ReportingList::parse(
                BUILTIN_REPORTING_TOML,
                "reporting/national.toml",
                &Catalogue::base(),
            )
            .expect("embedded reporting list is valid")
        });
        BUILTIN.clone()
    }

    /// Parse a reporting list, checking its categories against `catalogue`.
    pub fn parse(
        text: &str,
        origin: &str,
        catalogue: &Catalogue,
    ) -> Result<ReportingList, ReportingError> {
        use ReportingErrorKind as K;
        let raw: RawReportingList =
            toml::from_str(text).map_err(|e| LoadError::from_toml(origin, text, &e, K::Toml))?;
        let err = |span: &Range<usize>, kind| LoadError::at(origin, text, span, kind);
        if raw.example && raw.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(LoadError::whole(origin, K::ExampleWithoutNote));
        }
        let mut items = BTreeMap::new();
        for r in raw.report {
            let category = r.category.get_ref().clone();
            let at = r.category.span();
            if catalogue.category(&category).is_none() {
                return Err(err(&at, K::UnknownCategory(category)));
            }
            if items.contains_key(&category) {
                return Err(err(&at, K::DuplicateCategory(category)));
            }
            let deadline = match (r.within_working_days, r.within_hours) {
                (Some(d), None) if (1..=MAX_WORKING_DAYS).contains(&d) => Deadline::WorkingDays(d),
                (None, Some(h)) if (1..=MAX_HOURS).contains(&h) => Deadline::Hours(h),
                (Some(_), None) | (None, Some(_)) => {
                    return Err(err(&at, K::DeadlineOutOfRange(category)));
                }
                _ => return Err(err(&at, K::DeadlineChoice(category))),
            };
            let is_dp = DOUBLE_PUBLICITY_CATEGORIES.contains(&category.as_str());
            if r.double_publicity && !is_dp {
                return Err(err(&at, K::NotDoublePublicity(category)));
            }
            if is_dp && !r.double_publicity {
                return Err(err(&at, K::DoublePublicityMissing(category)));
            }
            if is_dp
                && !matches!(deadline, Deadline::WorkingDays(d) if d <= DOUBLE_PUBLICITY_WORKING_DAYS)
            {
                return Err(err(&at, K::DoublePublicityTooSlow(category)));
            }
            let fields =
                collected_fields(catalogue, &category, r.fields.get_ref()).map_err(|reason| {
                    err(
                        &r.fields.span(),
                        K::BadFields {
                            category: category.clone(),
                            reason,
                        },
                    )
                })?;
            items.insert(
                category.clone(),
                ReportingItem {
                    category,
                    deadline,
                    double_publicity: r.double_publicity,
                    fields,
                },
            );
        }
        let hash = reporting_hash(raw.example, &items);
        Ok(ReportingList {
            example: raw.example,
            items,
            hash,
        })
    }

    /// Read and parse a reporting list file.
    pub fn load_file(
        path: impl AsRef<Path>,
        catalogue: &Catalogue,
    ) -> Result<ReportingList, ReportingError> {
        let (text, origin) = source::read_text(path.as_ref(), ReportingErrorKind::Read)?;
        ReportingList::parse(&text, &origin, catalogue)
    }

    /// The entry for `category`, if it is reported upward.
    pub fn item(&self, category: &str) -> Option<&ReportingItem> {
        self.items.get(category)
    }

    /// Every entry, ordered by category.
    pub fn iter(&self) -> impl Iterator<Item = &ReportingItem> {
        self.items.values()
    }

    /// Whether the list is marked as an example.
    pub fn example(&self) -> bool {
        self.example
    }

    /// SHA-256 over the canonical encoding of the parsed list (domain
    /// `credex/reporting-list/v1`).
    pub fn content_hash(&self) -> [u8; 32] {
        self.hash
    }
}

/// The fields `raw` names for `category`, checked against the catalogue.
fn collected_fields(
    catalogue: &Catalogue,
    category: &str,
    raw: &RawFields,
) -> Result<BTreeSet<String>, String> {
    let Some(cat) = catalogue.category(category) else {
        return Err(format!("unknown category {category:?}"));
    };
    match raw {
        RawFields::Keyword(k) if k == "all_shareable" => Ok(cat
            .fields
            .iter()
            .filter(|f| matches!(f.class, SensitivityClass::Public | SensitivityClass::Shared))
            .map(|f| f.code.clone())
            .collect()),
        RawFields::Keyword(k) => Err(format!(
            "{k:?} is not a keyword (expected \"all_shareable\" or a list of field codes)"
        )),
        RawFields::List(list) => {
            let mut out = BTreeSet::new();
            for f in list {
                match cat.field(f) {
                    None => return Err(format!("{f:?} is not a field of {category}")),
                    Some(field) if field.class == SensitivityClass::Internal => {
                        return Err(format!("{f:?} is internal (内部) and never leaves a node"));
                    }
                    Some(_) if !out.insert(f.clone()) => {
                        return Err(format!("{f:?} is named twice"));
                    }
                    Some(_) => {}
                }
            }
            if out.is_empty() {
                return Err("names no field".into());
            }
            Ok(out)
        }
    }
}

fn reporting_hash(example: bool, items: &BTreeMap<String, ReportingItem>) -> [u8; 32] {
    let mut c = Canon::new("credex/reporting-list/v1");
    c.bool(example).len(items.len());
    for i in items.values() {
        c.str(&i.category);
        match i.deadline {
            Deadline::WorkingDays(d) => c.u8(1).u32(d),
            Deadline::Hours(h) => c.u8(2).u32(h),
        };
        c.bool(i.double_publicity);
        c.len(i.fields.len());
        for f in &i.fields {
            c.str(f);
        }
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_loads() {
        let list = ReportingList::builtin();
        assert!(list.example());
        let p = list.item("admin_penalty").unwrap();
        assert_eq!(p.deadline, Deadline::WorkingDays(7));
        assert!(p.double_publicity);
        assert!(list.item("admin_license").unwrap().double_publicity);
        assert!(!list.item("red_list").unwrap().double_publicity);
        assert!(list.iter().count() >= 8);
    }

    #[test]
    fn bad_reporting_lists_are_refused() {
        use ReportingErrorKind as K;
        let cat = Catalogue::base();
        let one =
            |body: &str| ReportingList::parse(&format!("[[report]]\n{body}\n"), "r.toml", &cat);
        let listed =
            one("category = \"red_list\"\nwithin_hours = 24\nfields = \"all_shareable\"").unwrap();
        assert!(listed.item("red_list").unwrap().fields.contains("basis"));
        let fields_error = |fields: &str| {
            one(&format!("category = \"admin_penalty\"\nwithin_working_days = 7\ndouble_publicity = true\nfields = {fields}"))
                .unwrap_err()
                .to_string()
        };
        for (fields, says) in [
            ("[\"case_notes\"]", "internal"),
            ("[\"weather\"]", "is not a field of admin_penalty"),
            ("[]", "names no field"),
            ("\"everything\"", "is not a keyword"),
            ("[\"facts\", \"facts\"]", "named twice"),
        ] {
            let e = fields_error(fields);
            assert!(e.contains(says) && e.contains("r.toml:5"), "{fields}: {e}");
        }
        // A restricted field only where named.
        let named = one("category = \"admin_penalty\"\nwithin_working_days = 7\ndouble_publicity = true\nfields = [\"offender_id_number\"]").unwrap();
        assert!(
            named
                .item("admin_penalty")
                .unwrap()
                .fields
                .contains("offender_id_number")
        );
        let all = one("category = \"admin_penalty\"\nwithin_working_days = 7\ndouble_publicity = true\nfields = \"all_shareable\"").unwrap();
        let collected = &all.item("admin_penalty").unwrap().fields;
        assert!(!collected.contains("offender_id_number") && !collected.contains("case_notes"));
        let one = |body: &str| one(&format!("fields = \"all_shareable\"\n{body}"));
        let kind = |body: &str| one(body).unwrap_err().kind;
        assert_eq!(
            kind("category = \"weather\"\nwithin_hours = 24"),
            K::UnknownCategory("weather".into())
        );
        assert_eq!(
            kind("category = \"red_list\""),
            K::DeadlineChoice("red_list".into())
        );
        assert_eq!(
            kind("category = \"red_list\"\nwithin_hours = 24\nwithin_working_days = 1"),
            K::DeadlineChoice("red_list".into())
        );
        assert_eq!(
            kind("category = \"red_list\"\nwithin_working_days = 0"),
            K::DeadlineOutOfRange("red_list".into())
        );
        assert_eq!(
            kind("category = \"red_list\"\nwithin_working_days = 7\ndouble_publicity = true"),
            K::NotDoublePublicity("red_list".into())
        );
        assert_eq!(
            kind("category = \"admin_penalty\"\nwithin_working_days = 7"),
            K::DoublePublicityMissing("admin_penalty".into())
        );
        assert_eq!(
            kind("category = \"admin_license\"\nwithin_working_days = 8\ndouble_publicity = true"),
            K::DoublePublicityTooSlow("admin_license".into())
        );
        assert_eq!(
            kind("category = \"admin_license\"\nwithin_hours = 24\ndouble_publicity = true"),
            K::DoublePublicityTooSlow("admin_license".into())
        );
        let twice =
            "[[report]]\ncategory = \"red_list\"\nwithin_hours = 24\nfields = \"all_shareable\"\n";
        let e = ReportingList::parse(&format!("{twice}{twice}"), "r.toml", &cat).unwrap_err();
        assert_eq!(e.kind, K::DuplicateCategory("red_list".into()));
        assert_eq!(e.location.line, Some(6));
    }
}
