//! The joint reward and punishment measures catalogue (联合奖惩措施清单):
//! which incentive or disciplinary measure may be applied to a subject on
//! which list, on what legal basis, by which departments.
//!
//! The built-in catalogue ([`MeasuresCatalogue::builtin`]) is
//! `policies/measures/base.toml`:
//!
//! ```toml
//! [[measure]]
//! code = "restrict_government_procurement"
//! name_zh = "限制参与政府采购活动"
//! name_en = "Restriction from government procurement"
//! kind = "punishment"                      # or "reward"
//! applies_to = ["serious_dishonesty"]      # red | serious_dishonesty | key_attention
//! legal_basis = "《中华人民共和国政府采购法》第二十二条"
//! implementing_departments = ["财政部门"]
//! ```
//!
//! Load-time rules: codes are `[a-z][a-z0-9_]*` and unique; `applies_to` is
//! non-empty without repeats; a reward applies only to the red list and a
//! punishment never does (a red-list subject is not punished for being on
//! it, and a dishonest one is not rewarded); names, legal basis and
//! departments are non-empty.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::canonical::Canon;
use crate::source::{self, LoadError};

/// The built-in measures catalogue (`policies/measures/base.toml`).
pub const BUILTIN_MEASURES_TOML: &str = include_str!("../measures/base.toml");

/// A credit list that joint rewards and punishments act on (名单类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListType {
    /// The red list of trustworthy subjects (守信红名单, 诚信典型); code `red`.
    Red,
    /// The list of seriously dishonest subjects (严重失信主体名单); code
    /// `serious_dishonesty`.
    SeriousDishonesty,
    /// The key-attention list (重点关注名单) of subjects under closer
    /// supervision; code `key_attention`.
    KeyAttention,
}

impl ListType {
    /// Every list type, in a fixed order.
    pub const ALL: [ListType; 3] = [
        ListType::Red,
        ListType::SeriousDishonesty,
        ListType::KeyAttention,
    ];

    /// The stable snake_case code used in files and on the wire.
    pub fn code(self) -> &'static str {
        match self {
            ListType::Red => "red",
            ListType::SeriousDishonesty => "serious_dishonesty",
            ListType::KeyAttention => "key_attention",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            ListType::Red => "守信红名单",
            ListType::SeriousDishonesty => "严重失信主体名单",
            ListType::KeyAttention => "重点关注名单",
        }
    }

    /// Whether subjects on this list get rewards (`true`) or disciplinary
    /// measures (`false`).
    pub fn is_reward_list(self) -> bool {
        self == ListType::Red
    }

    /// A stable number for canonical hashes (never reused).
    /// The catalogue category that describes entries of this list
    /// (`red_list`, `serious_dishonesty`, `key_attention`).
    pub fn catalogue_category(self) -> &'static str {
        match self {
            ListType::Red => "red_list",
            ListType::SeriousDishonesty => "serious_dishonesty",
            ListType::KeyAttention => "key_attention",
        }
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            ListType::Red => 1,
            ListType::SeriousDishonesty => 2,
            ListType::KeyAttention => 3,
        }
    }
}

/// A list type code that names no [`ListType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown list type {0:?} (expected red, serious_dishonesty or key_attention)")]
pub struct UnknownListType(pub String);

impl FromStr for ListType {
    type Err = UnknownListType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ListType::ALL
            .into_iter()
            .find(|l| l.code() == s)
            .ok_or_else(|| UnknownListType(s.to_owned()))
    }
}

impl fmt::Display for ListType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether a measure is an incentive or a disciplinary measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    /// An incentive for trustworthy subjects (守信激励).
    Reward,
    /// A disciplinary measure for dishonest subjects (失信惩戒).
    Punishment,
}

impl MeasureKind {
    /// `reward` or `punishment`.
    pub fn code(self) -> &'static str {
        match self {
            MeasureKind::Reward => "reward",
            MeasureKind::Punishment => "punishment",
        }
    }
}

impl fmt::Display for MeasureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One joint reward or punishment measure (联合奖惩措施).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measure {
    /// Stable code, e.g. `restrict_government_procurement`.
    pub code: String,
    /// Chinese name (中文名称).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Reward or punishment.
    pub kind: MeasureKind,
    /// The lists whose subjects it may be applied to.
    pub applies_to: BTreeSet<ListType>,
    /// The legal text that authorises it (法律依据).
    pub legal_basis: String,
    /// Departments that implement it (实施部门).
    pub implementing_departments: Vec<String>,
}

/// Why a measures file failed to load.
pub type MeasuresError = LoadError<MeasuresErrorKind>;

/// The reason a measures file failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasuresErrorKind {
    /// The file could not be read.
    #[error("cannot read measures catalogue: {0}")]
    Read(String),
    /// Not valid TOML, an unknown key, a missing key, a wrong type, an
    /// unknown kind or list type; the message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// The measure code is not `[a-z][a-z0-9_]*` (at most 64 bytes).
    #[error(
        "measure code {0:?} must be a-z, 0-9 and '_', starting with a letter, at most 64 bytes"
    )]
    BadCode(String),
    /// Two measures share a code.
    #[error("measure {0:?} is defined twice")]
    DuplicateMeasure(String),
    /// A measure applies to no list.
    #[error("measure {0:?}: applies_to must name at least one list type")]
    NoListTypes(String),
    /// A measure lists a list type twice.
    #[error("measure {measure:?}: list type {list_type} listed twice")]
    DuplicateListType {
        /// The measure code.
        measure: String,
        /// The repeated list type.
        list_type: ListType,
    },
    /// A reward on a dishonesty or key-attention list, or a punishment on
    /// the red list.
    #[error("measure {measure:?} is a {kind} and cannot apply to the {list_type} list")]
    KindMismatch {
        /// The measure code.
        measure: String,
        /// Its kind.
        kind: MeasureKind,
        /// The list it cannot apply to.
        list_type: ListType,
    },
    /// A required text (name, legal basis, department) is empty.
    #[error("measure {measure:?}: {key} must not be empty")]
    Empty {
        /// The measure code.
        measure: String,
        /// The empty key.
        key: &'static str,
    },
}

/// Why a set of measures cannot be applied to a list entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasureError {
    /// A measure code the catalogue does not define.
    #[error("unknown measure {0:?} (not in the measures catalogue)")]
    UnknownMeasure(String),
    /// A measure the catalogue does not allow for this list type (e.g. a
    /// reward on the serious-dishonesty list).
    #[error("measure {measure:?} does not apply to the {list_type} list")]
    NotApplicable {
        /// The measure code.
        measure: String,
        /// The list type.
        list_type: ListType,
    },
    /// The same measure named twice.
    #[error("measure {0:?} named twice")]
    Duplicate(String),
}

/// A loaded, validated measures catalogue (联合奖惩措施清单).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuresCatalogue {
    measures: BTreeMap<String, Measure>,
    hash: [u8; 32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    measure: Vec<RawMeasure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    code: Spanned<String>,
    name_zh: String,
    name_en: String,
    kind: MeasureKind,
    applies_to: Spanned<Vec<Spanned<ListType>>>,
    legal_basis: String,
    implementing_departments: Vec<String>,
}

impl MeasuresCatalogue {
    /// The built-in catalogue, `policies/measures/base.toml`.
    pub fn builtin() -> MeasuresCatalogue {
        static BUILTIN: LazyLock<MeasuresCatalogue> = LazyLock::new(|| {
            // Invariant: the embedded file is valid; the unit test
            // `builtin_catalogue_loads` fails otherwise.
            #[allow(clippy::expect_used)]
            MeasuresCatalogue::parse(BUILTIN_MEASURES_TOML, "measures/base.toml")
                .expect("embedded measures catalogue is valid")
        });
        BUILTIN.clone()
    }

    /// Parse a measures catalogue; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<MeasuresCatalogue, MeasuresError> {
        let raw: RawCatalogue = toml::from_str(text)
            .map_err(|e| LoadError::from_toml(origin, text, &e, MeasuresErrorKind::Toml))?;
        let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
        let mut measures = BTreeMap::new();
        for m in raw.measure {
            let code = m.code.get_ref().clone();
            let at = m.code.span();
            if !source::is_code(&code) {
                return Err(err(&at, MeasuresErrorKind::BadCode(code)));
            }
            if measures.contains_key(&code) {
                return Err(err(&at, MeasuresErrorKind::DuplicateMeasure(code)));
            }
            for (key, value) in [
                ("name_zh", &m.name_zh),
                ("name_en", &m.name_en),
                ("legal_basis", &m.legal_basis),
            ] {
                if value.trim().is_empty() {
                    return Err(err(&at, MeasuresErrorKind::Empty { measure: code, key }));
                }
            }
            if m.implementing_departments.is_empty()
                || m.implementing_departments
                    .iter()
                    .any(|d| d.trim().is_empty())
            {
                return Err(err(
                    &at,
                    MeasuresErrorKind::Empty {
                        measure: code,
                        key: "implementing_departments",
                    },
                ));
            }
            let applies_to = list_types(&m, &code, origin, text)?;
            measures.insert(
                code.clone(),
                Measure {
                    code,
                    name_zh: m.name_zh,
                    name_en: m.name_en,
                    kind: m.kind,
                    applies_to,
                    legal_basis: m.legal_basis,
                    implementing_departments: m.implementing_departments,
                },
            );
        }
        let hash = canonical_hash(&measures);
        Ok(MeasuresCatalogue { measures, hash })
    }

    /// Read and parse a measures catalogue file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<MeasuresCatalogue, MeasuresError> {
        let (text, origin) = source::read_text(path.as_ref(), MeasuresErrorKind::Read)?;
        MeasuresCatalogue::parse(&text, &origin)
    }

    /// The measure named `code`.
    pub fn measure(&self, code: &str) -> Option<&Measure> {
        self.measures.get(code)
    }

    /// Every measure, ordered by code.
    pub fn iter(&self) -> impl Iterator<Item = &Measure> {
        self.measures.values()
    }

    /// The measures that may be applied to subjects on `list_type`, by code.
    pub fn applicable_to(&self, list_type: ListType) -> impl Iterator<Item = &Measure> {
        self.measures
            .values()
            .filter(move |m| m.applies_to.contains(&list_type))
    }

    /// Check that every measure in `codes` exists, applies to `list_type`
    /// and is named once: what a list entry sent or received under a joint
    /// reward/punishment agreement must satisfy. Reports the first offender.
    pub fn check(&self, list_type: ListType, codes: &[&str]) -> Result<(), MeasureError> {
        let mut seen = BTreeSet::new();
        for &code in codes {
            let measure = self
                .measures
                .get(code)
                .ok_or_else(|| MeasureError::UnknownMeasure(code.to_owned()))?;
            if !measure.applies_to.contains(&list_type) {
                return Err(MeasureError::NotApplicable {
                    measure: code.to_owned(),
                    list_type,
                });
            }
            if !seen.insert(code) {
                return Err(MeasureError::Duplicate(code.to_owned()));
            }
        }
        Ok(())
    }

    /// SHA-256 over the canonical encoding of the parsed catalogue (domain
    /// `credex/measures/v1`): file order, whitespace and comments do not
    /// change it.
    pub fn content_hash(&self) -> [u8; 32] {
        self.hash
    }
}

impl Default for MeasuresCatalogue {
    fn default() -> Self {
        MeasuresCatalogue::builtin()
    }
}

/// The list types measure `m` applies to: at least one, none twice, and
/// each a reward list exactly when the measure is a reward.
fn list_types(
    m: &RawMeasure,
    code: &str,
    origin: &str,
    text: &str,
) -> Result<BTreeSet<ListType>, MeasuresError> {
    let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
    let mut applies_to = BTreeSet::new();
    for l in m.applies_to.get_ref() {
        let list_type = *l.get_ref();
        if list_type.is_reward_list() != (m.kind == MeasureKind::Reward) {
            return Err(err(
                &l.span(),
                MeasuresErrorKind::KindMismatch {
                    measure: code.to_owned(),
                    kind: m.kind,
                    list_type,
                },
            ));
        }
        if !applies_to.insert(list_type) {
            return Err(err(
                &l.span(),
                MeasuresErrorKind::DuplicateListType {
                    measure: code.to_owned(),
                    list_type,
                },
            ));
        }
    }
    if applies_to.is_empty() {
        return Err(err(
            &m.applies_to.span(),
            MeasuresErrorKind::NoListTypes(code.to_owned()),
        ));
    }
    Ok(applies_to)
}

fn canonical_hash(measures: &BTreeMap<String, Measure>) -> [u8; 32] {
    let mut c = Canon::new("credex/measures/v1");
    c.len(measures.len());
    for m in measures.values() {
        c.str(&m.code).str(&m.name_zh).str(&m.name_en);
        c.u8(match m.kind {
            MeasureKind::Reward => 1,
            MeasureKind::Punishment => 2,
        });
        c.len(m.applies_to.len());
        for l in &m.applies_to {
            c.u8(l.tag());
        }
        c.str(&m.legal_basis);
        c.len(m.implementing_departments.len());
        for d in &m.implementing_departments {
            c.str(d);
        }
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[measure]]
code = "green_channel"
name_zh = "绿色通道"
name_en = "Green channel"
kind = "reward"
applies_to = ["red"]
legal_basis = "国发〔2016〕33号"
implementing_departments = ["各级行政审批部门"]
"#;

    #[test]
    fn builtin_catalogue_loads() {
        let c = MeasuresCatalogue::builtin();
        assert!(c.iter().count() >= 10);
        let rewards = c.applicable_to(ListType::Red).count();
        let punishments = c.applicable_to(ListType::SeriousDishonesty).count();
        assert!(rewards >= 4 && punishments >= 6, "{rewards} {punishments}");
        assert!(c.applicable_to(ListType::KeyAttention).count() >= 1);
        let m = c.measure("restrict_government_procurement").unwrap();
        assert_eq!(m.kind, MeasureKind::Punishment);
        assert_eq!(m.name_zh, "限制参与政府采购活动");
    }

    #[test]
    fn list_type_codes_round_trip() {
        for l in ListType::ALL {
            assert_eq!(l.code().parse::<ListType>().unwrap(), l);
            assert_eq!(l.to_string(), l.code());
        }
        assert!("blacklist".parse::<ListType>().is_err());
    }

    #[test]
    fn check_refuses_unknown_inapplicable_and_repeated_measures() {
        let c = MeasuresCatalogue::builtin();
        c.check(
            ListType::SeriousDishonesty,
            &["restrict_government_procurement", "restrict_honours"],
        )
        .unwrap();
        c.check(
            ListType::Red,
            &["green_channel", "tolerate_missing_documents"],
        )
        .unwrap();
        c.check(ListType::Red, &[]).unwrap();
        assert_eq!(
            c.check(ListType::Red, &["free_lunch"]),
            Err(MeasureError::UnknownMeasure("free_lunch".into()))
        );
        assert_eq!(
            c.check(ListType::SeriousDishonesty, &["green_channel"]),
            Err(MeasureError::NotApplicable {
                measure: "green_channel".into(),
                list_type: ListType::SeriousDishonesty
            })
        );
        assert_eq!(
            c.check(ListType::Red, &["restrict_government_procurement"]),
            Err(MeasureError::NotApplicable {
                measure: "restrict_government_procurement".into(),
                list_type: ListType::Red
            })
        );
        assert_eq!(
            c.check(ListType::Red, &["green_channel", "green_channel"]),
            Err(MeasureError::Duplicate("green_channel".into()))
        );
    }

    #[test]
    fn a_reward_on_a_dishonesty_list_fails_to_load() {
        let text = ONE.replace(r#"["red"]"#, r#"["red", "serious_dishonesty"]"#);
        let e = MeasuresCatalogue::parse(&text, "m.toml").unwrap_err();
        assert!(
            matches!(e.kind, MeasuresErrorKind::KindMismatch { .. }),
            "{e}"
        );
        assert_eq!(e.location.line, Some(7));
        let text = ONE.replace(r#""reward""#, r#""punishment""#);
        let e = MeasuresCatalogue::parse(&text, "m.toml").unwrap_err();
        assert!(
            e.to_string()
                .contains("punishment and cannot apply to the red list"),
            "{e}"
        );
    }

    #[test]
    fn bad_measures_are_refused() {
        let e = MeasuresCatalogue::parse(&format!("{ONE}{ONE}"), "m.toml").unwrap_err();
        assert_eq!(
            e.kind,
            MeasuresErrorKind::DuplicateMeasure("green_channel".into())
        );
        assert_eq!(e.location.line, Some(12));
        let e = MeasuresCatalogue::parse(&ONE.replace(r#"["red"]"#, "[]"), "m.toml").unwrap_err();
        assert!(matches!(e.kind, MeasuresErrorKind::NoListTypes(_)));
        let e = MeasuresCatalogue::parse(&ONE.replace(r#"["red"]"#, r#"["red", "red"]"#), "m.toml")
            .unwrap_err();
        assert!(matches!(
            e.kind,
            MeasuresErrorKind::DuplicateListType { .. }
        ));
        let e = MeasuresCatalogue::parse(&ONE.replace("\"green_channel\"", "\"Green\""), "m.toml")
            .unwrap_err();
        assert!(matches!(e.kind, MeasuresErrorKind::BadCode(_)));
        let e = MeasuresCatalogue::parse(&ONE.replace("[\"各级行政审批部门\"]", "[]"), "m.toml")
            .unwrap_err();
        assert!(matches!(
            e.kind,
            MeasuresErrorKind::Empty {
                key: "implementing_departments",
                ..
            }
        ));
        let e =
            MeasuresCatalogue::parse(&ONE.replace("\"red\"", "\"gold\""), "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:7:"), "{e}");
        let e = MeasuresCatalogue::parse(&format!("{ONE}colour = 1\n"), "m.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn hash_ignores_layout_but_not_meaning() {
        let a = MeasuresCatalogue::parse(ONE, "a").unwrap();
        let b = MeasuresCatalogue::parse(&format!("# comment\n{ONE}"), "b").unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        let c = MeasuresCatalogue::parse(&ONE.replace("绿色通道", "绿色通道 "), "c").unwrap();
        assert_ne!(a.content_hash(), c.content_hash());
    }
}
