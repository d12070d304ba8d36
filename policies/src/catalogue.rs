//! The credit information catalogue (信用信息目录): categories of credit
//! information, their fields, each field's type and sensitivity class.
//!
//! A catalogue is loaded from TOML. The base catalogue ships with the crate
//! ([`Catalogue::base`]); a province layers a supplementary catalogue
//! (补充目录) on top with [`Catalogue::with_supplement`], which may add
//! categories and add fields to existing categories but never redefine one.
//!
//! ```toml
//! [[category]]
//! code = "admin_penalty"                 # stable code, [a-z][a-z0-9_]*
//! name_zh = "行政处罚信息"
//! name_en = "Administrative penalties"
//! subjects = ["legal_person", "natural_person"]
//!
//! [[category.field]]
//! code = "decision_number"
//! name_zh = "行政处罚决定书文号"
//! name_en = "Penalty decision number"
//! type = "text"        # text | date | amount | decimal | integer | code | boolean
//! class = "public"     # public | shared | restricted | internal
//!
//! # A supplement adds fields to an existing category:
//! [[extend]]
//! category = "admin_penalty"
//! [[extend.field]]
//! code = "local_case_code"
//! # …
//! ```
//!
//! Unknown keys are refused; errors name the file, the line and the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::canonical::Canon;
use crate::source::{self, LoadError};

/// The base catalogue shipped with the crate (`policies/catalogue/base.toml`).
pub const BASE_CATALOGUE_TOML: &str = include_str!("../catalogue/base.toml");

/// The origin name under which the base catalogue is loaded.
pub const BASE_CATALOGUE_ORIGIN: &str = "catalogue/base.toml";

/// The kind of subject a category of records is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// Legal persons and other organisations (法人和其他组织), identified by
    /// the unified social credit code (统一社会信用代码).
    LegalPerson,
    /// Natural persons (自然人), identified by the citizen identity number
    /// (公民身份号码).
    NaturalPerson,
}

impl SubjectKind {
    /// The snake_case name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::LegalPerson => "legal_person",
            SubjectKind::NaturalPerson => "natural_person",
        }
    }

    fn tag(self) -> u8 {
        match self {
            SubjectKind::LegalPerson => 1,
            SubjectKind::NaturalPerson => 2,
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sensitive a field is, which bounds who may ever receive it. Ordered
/// from least to most sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitivityClass {
    /// Public information (公开): already published, e.g. under the
    /// "双公示" rules for licences and penalties.
    Public,
    /// Government sharing (政务共享): may go to other government nodes of the
    /// federation for a listed purpose, not to the public.
    Shared,
    /// Restricted (需主体授权): released only with the data subject's
    /// electronic authorization (电子授权) covering the request; a legal
    /// basis alone never suffices.
    Restricted,
    /// Internal (内部): never leaves the node. No policy may list it.
    Internal,
}

impl SensitivityClass {
    /// The snake_case name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            SensitivityClass::Public => "public",
            SensitivityClass::Shared => "shared",
            SensitivityClass::Restricted => "restricted",
            SensitivityClass::Internal => "internal",
        }
    }

    fn tag(self) -> u8 {
        match self {
            SensitivityClass::Public => 1,
            SensitivityClass::Shared => 2,
            SensitivityClass::Restricted => 3,
            SensitivityClass::Internal => 4,
        }
    }
}

impl fmt::Display for SensitivityClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text (文本).
    Text,
    /// A calendar date `YYYY-MM-DD` (日期).
    Date,
    /// A non-negative sum of money as decimal text, in the unit the field's
    /// name states (金额, e.g. 万元).
    Amount,
    /// A signed decimal number as text (数值), e.g. a score.
    Decimal,
    /// A signed 64-bit integer (整数), e.g. a year.
    Integer,
    /// A code from a code list (代码): one of the field's `values` when the
    /// catalogue lists them, otherwise non-empty text.
    Code,
    /// Yes or no (是否).
    Boolean,
}

impl FieldType {
    /// The snake_case name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Date => "date",
            FieldType::Amount => "amount",
            FieldType::Decimal => "decimal",
            FieldType::Integer => "integer",
            FieldType::Code => "code",
            FieldType::Boolean => "boolean",
        }
    }

    fn tag(self) -> u8 {
        match self {
            FieldType::Text => 1,
            FieldType::Date => 2,
            FieldType::Amount => 3,
            FieldType::Decimal => 4,
            FieldType::Integer => 5,
            FieldType::Code => 6,
            FieldType::Boolean => 7,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of a category (数据项).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Stable code, unique within its category (e.g. `decision_number`).
    pub code: String,
    /// Chinese name (中文名称).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The type of its values.
    pub field_type: FieldType,
    /// Its sensitivity class.
    pub class: SensitivityClass,
    /// For [`FieldType::Code`] fields, the allowed values when the catalogue
    /// lists them (代码集).
    pub values: Option<Vec<String>>,
}

/// A category of credit information (信息类别), e.g. administrative
/// penalties (行政处罚信息).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    /// Stable code (e.g. `admin_penalty`).
    pub code: String,
    /// Chinese name (中文名称).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The kinds of subject whose records fall in this category.
    pub subjects: Vec<SubjectKind>,
    /// Fields, in the order the catalogue declares them (base first, then
    /// supplements).
    pub fields: Vec<Field>,
}

impl Category {
    /// The field named `code`, if the category has one.
    pub fn field(&self, code: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.code == code)
    }

    /// Whether records about subjects of `kind` belong to this category.
    pub fn applies_to(&self, kind: SubjectKind) -> bool {
        self.subjects.contains(&kind)
    }
}

/// Why a catalogue or supplement failed to load.
pub type CatalogueError = LoadError<CatalogueErrorKind>;

/// The reason a catalogue or supplement failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueErrorKind {
    /// The file could not be read.
    #[error("cannot read catalogue: {0}")]
    Read(String),
    /// The text is not valid TOML, has an unknown key, lacks a required key
    /// or has a value of the wrong type; the message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// A category or field code is not `[a-z][a-z0-9_]*` of at most 64 bytes.
    #[error(
        "{what} code {code:?} must be a-z, 0-9 and '_', starting with a letter, at most 64 bytes"
    )]
    BadCode {
        /// `category` or `field`.
        what: &'static str,
        /// The code as written.
        code: String,
    },
    /// A Chinese or English name is empty.
    #[error("{what} {code:?} has an empty {key}")]
    EmptyName {
        /// `category` or `field`.
        what: &'static str,
        /// The code of the thing named.
        code: String,
        /// `name_zh` or `name_en`.
        key: &'static str,
    },
    /// The same category code is defined twice in one file.
    #[error("category {0:?} is defined twice in this file")]
    DuplicateCategory(String),
    /// A supplement defines a category the catalogue already has.
    #[error(
        "category {0:?} already exists in the catalogue; a supplement may add categories and fields but not redefine them (use [[extend]] to add fields)"
    )]
    CategoryRedefined(String),
    /// An `[[extend]]` names a category the catalogue does not have.
    #[error("[[extend]] names unknown category {0:?}")]
    UnknownCategory(String),
    /// The same field code appears twice in one category in one file.
    #[error("field {field:?} appears twice in category {category:?}")]
    DuplicateField {
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A supplement defines a field the category already has.
    #[error(
        "field {field:?} already exists in category {category:?}; a supplement may not redefine a field"
    )]
    FieldRedefined {
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A category defines no field.
    #[error("category {0:?} has no fields")]
    NoFields(String),
    /// A category lists no subject kinds, or one twice.
    #[error(
        "category {0:?} must list each subject kind (legal_person, natural_person) at most once, and at least one"
    )]
    BadSubjects(String),
    /// `values` was given for a field whose type is not `code`.
    #[error("field {0:?}: `values` is only allowed for type = \"code\"")]
    ValuesNotAllowed(String),
    /// A `values` list is empty, has an empty entry or has a duplicate.
    #[error("field {0:?}: `values` must be non-empty, with distinct non-empty entries")]
    BadValues(String),
}

/// The credit information catalogue (信用信息目录): the base catalogue plus
/// any supplements, validated. Cheap to clone relative to its use; build once
/// at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    categories: BTreeMap<String, Category>,
    hash: [u8; 32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    category: Vec<RawCategory>,
    #[serde(default)]
    extend: Vec<RawExtension>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    code: Spanned<String>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
    subjects: Spanned<Vec<SubjectKind>>,
    #[serde(default)]
    field: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtension {
    category: Spanned<String>,
    #[serde(default)]
    field: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    code: Spanned<String>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
    #[serde(rename = "type")]
    field_type: FieldType,
    class: SensitivityClass,
    values: Option<Spanned<Vec<String>>>,
}

impl Catalogue {
    /// The base catalogue shipped with the crate, covering registration,
    /// licensing, penalties, the red and serious-dishonesty lists,
    /// judgment-debtors, tax credit ratings, comprehensive evaluations,
    /// commitments, credit repair and the key-attention list.
    pub fn base() -> Catalogue {
        static BASE: LazyLock<Catalogue> = LazyLock::new(|| {
            // Invariant: the embedded base catalogue is valid; the unit test
            // `base_catalogue_loads` fails otherwise.
            #[allow(clippy::expect_used)]
            Catalogue::parse(BASE_CATALOGUE_TOML, BASE_CATALOGUE_ORIGIN)
                .expect("embedded base catalogue is valid")
        });
        BASE.clone()
    }

    /// Parse a whole catalogue from TOML `text`; `origin` (usually the file
    /// name) is used in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::empty().with_supplement(text, origin)
    }

    /// Read and parse a catalogue file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Catalogue, CatalogueError> {
        let (text, origin) = source::read_text(path.as_ref(), CatalogueErrorKind::Read)?;
        Catalogue::parse(&text, &origin)
    }

    /// Layer a supplementary catalogue (补充目录) on top of this one: its
    /// `[[category]]` entries add new categories and its `[[extend]]` entries
    /// add fields to existing categories. Redefining an existing category or
    /// field is an error.
    pub fn with_supplement(&self, text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let raw: RawCatalogue = toml::from_str(text)
            .map_err(|e| LoadError::from_toml(origin, text, &e, CatalogueErrorKind::Toml))?;
        let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
        let mut categories = self.categories.clone();
        let mut new_codes = BTreeSet::new();

        for rc in raw.category {
            let code = rc.code.get_ref().clone();
            if !source::is_code(&code) {
                return Err(err(
                    &rc.code.span(),
                    CatalogueErrorKind::BadCode {
                        what: "category",
                        code,
                    },
                ));
            }
            if !new_codes.insert(code.clone()) {
                return Err(err(
                    &rc.code.span(),
                    CatalogueErrorKind::DuplicateCategory(code),
                ));
            }
            if categories.contains_key(&code) {
                return Err(err(
                    &rc.code.span(),
                    CatalogueErrorKind::CategoryRedefined(code),
                ));
            }
            for (key, name) in [("name_zh", &rc.name_zh), ("name_en", &rc.name_en)] {
                if name.get_ref().trim().is_empty() {
                    return Err(err(
                        &name.span(),
                        CatalogueErrorKind::EmptyName {
                            what: "category",
                            code: code.clone(),
                            key,
                        },
                    ));
                }
            }
            let subjects = rc.subjects.get_ref();
            let distinct: BTreeSet<_> = subjects.iter().collect();
            if subjects.is_empty() || distinct.len() != subjects.len() {
                return Err(err(
                    &rc.subjects.span(),
                    CatalogueErrorKind::BadSubjects(code),
                ));
            }
            if rc.field.is_empty() {
                return Err(err(&rc.code.span(), CatalogueErrorKind::NoFields(code)));
            }
            let mut category = Category {
                code: code.clone(),
                name_zh: rc.name_zh.into_inner(),
                name_en: rc.name_en.into_inner(),
                subjects: rc.subjects.into_inner(),
                fields: Vec::new(),
            };
            add_fields(&mut category, rc.field, origin, text)?;
            categories.insert(code, category);
        }

        for ext in raw.extend {
            let code = ext.category.get_ref();
            let Some(category) = categories.get_mut(code) else {
                return Err(err(
                    &ext.category.span(),
                    CatalogueErrorKind::UnknownCategory(code.clone()),
                ));
            };
            if ext.field.is_empty() {
                return Err(err(
                    &ext.category.span(),
                    CatalogueErrorKind::NoFields(code.clone()),
                ));
            }
            add_fields(category, ext.field, origin, text)?;
        }

        Ok(Catalogue::from_categories(categories))
    }

    /// Read a supplement file and layer it on top of this catalogue.
    pub fn load_supplement_file(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Catalogue, CatalogueError> {
        let (text, origin) = source::read_text(path.as_ref(), CatalogueErrorKind::Read)?;
        self.with_supplement(&text, &origin)
    }

    fn empty() -> Catalogue {
        Catalogue::from_categories(BTreeMap::new())
    }

    fn from_categories(categories: BTreeMap<String, Category>) -> Catalogue {
        let hash = canonical_hash(&categories);
        Catalogue { categories, hash }
    }

    /// The category named `code`.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.get(code)
    }

    /// The field `field` of category `category`.
    pub fn field(&self, category: &str, field: &str) -> Option<&Field> {
        self.category(category)?.field(field)
    }

    /// All categories, ordered by code.
    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.values()
    }

    /// SHA-256 over the canonical encoding of the parsed catalogue
    /// (categories and fields sorted by code), so formatting, comments and
    /// order in the files do not change it.
    pub fn content_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`Catalogue::content_hash`] as lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

fn add_fields(
    category: &mut Category,
    raw: Vec<RawField>,
    origin: &str,
    text: &str,
) -> Result<(), CatalogueError> {
    let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
    let mut seen = BTreeSet::new();
    for rf in raw {
        let code = rf.code.get_ref().clone();
        if !source::is_code(&code) {
            return Err(err(
                &rf.code.span(),
                CatalogueErrorKind::BadCode {
                    what: "field",
                    code,
                },
            ));
        }
        if !seen.insert(code.clone()) {
            return Err(err(
                &rf.code.span(),
                CatalogueErrorKind::DuplicateField {
                    category: category.code.clone(),
                    field: code,
                },
            ));
        }
        if category.field(&code).is_some() {
            return Err(err(
                &rf.code.span(),
                CatalogueErrorKind::FieldRedefined {
                    category: category.code.clone(),
                    field: code,
                },
            ));
        }
        for (key, name) in [("name_zh", &rf.name_zh), ("name_en", &rf.name_en)] {
            if name.get_ref().trim().is_empty() {
                return Err(err(
                    &name.span(),
                    CatalogueErrorKind::EmptyName {
                        what: "field",
                        code: code.clone(),
                        key,
                    },
                ));
            }
        }
        let values = match rf.values {
            None => None,
            Some(v) if rf.field_type != FieldType::Code => {
                return Err(err(&v.span(), CatalogueErrorKind::ValuesNotAllowed(code)));
            }
            Some(v) => {
                let list = v.get_ref();
                let distinct: BTreeSet<_> = list.iter().collect();
                if list.is_empty()
                    || distinct.len() != list.len()
                    || list.iter().any(|s| s.trim().is_empty())
                {
                    return Err(err(&v.span(), CatalogueErrorKind::BadValues(code)));
                }
                Some(v.into_inner())
            }
        };
        category.fields.push(Field {
            code,
            name_zh: rf.name_zh.into_inner(),
            name_en: rf.name_en.into_inner(),
            field_type: rf.field_type,
            class: rf.class,
            values,
        });
    }
    Ok(())
}

fn canonical_hash(categories: &BTreeMap<String, Category>) -> [u8; 32] {
    let mut c = Canon::new("credex/catalogue/v1");
    c.len(categories.len());
    for cat in categories.values() {
        c.str(&cat.code).str(&cat.name_zh).str(&cat.name_en);
        let subjects: BTreeSet<_> = cat.subjects.iter().collect();
        c.len(subjects.len());
        for s in subjects {
            c.u8(s.tag());
        }
        let mut fields: Vec<&Field> = cat.fields.iter().collect();
        fields.sort_by(|a, b| a.code.cmp(&b.code));
        c.len(fields.len());
        for f in fields {
            c.str(&f.code)
                .str(&f.name_zh)
                .str(&f.name_en)
                .u8(f.field_type.tag())
                .u8(f.class.tag());
            match &f.values {
                None => {
                    c.u8(0);
                }
                Some(values) => {
                    // The order of a code list is presentation; hash it sorted.
                    let sorted: BTreeSet<_> = values.iter().collect();
                    c.u8(1).len(sorted.len());
                    for v in sorted {
                        c.str(v);
                    }
                }
            }
        }
    }
    c.finish()
}

/// One value of a record's field, typed per the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldValue {
    /// Free text ([`FieldType::Text`]).
    Text(String),
    /// A code ([`FieldType::Code`]).
    Code(String),
    /// A date `YYYY-MM-DD` ([`FieldType::Date`]).
    Date(String),
    /// A decimal number as text ([`FieldType::Amount`], [`FieldType::Decimal`]).
    Decimal(String),
    /// An integer ([`FieldType::Integer`]).
    Integer(i64),
    /// Yes or no ([`FieldType::Boolean`]).
    Boolean(bool),
}

/// Why a value does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value's variant does not match the field's type.
    #[error("field {field:?} has type {expected}, the value is of another type")]
    WrongType {
        /// The field code.
        field: String,
        /// The field's type.
        expected: FieldType,
    },
    /// The text is not a valid value of the field's type.
    #[error("field {field:?} ({expected}): {reason}")]
    Invalid {
        /// The field code.
        field: String,
        /// The field's type.
        expected: FieldType,
        /// What is wrong, e.g. "not a date YYYY-MM-DD".
        reason: &'static str,
    },
    /// The code is not one of the field's listed values.
    #[error("field {field:?}: value is not one of the listed codes")]
    NotInCodeList {
        /// The field code.
        field: String,
    },
}

impl Field {
    /// Parse a value given as text (e.g. a CSV cell) per this field's type.
    /// Booleans are `true`/`false` (also `是`/`否`).
    pub fn parse_value(&self, text: &str) -> Result<FieldValue, ValueError> {
        let invalid = |reason| ValueError::Invalid {
            field: self.code.clone(),
            expected: self.field_type,
            reason,
        };
        let value = match self.field_type {
            FieldType::Text => FieldValue::Text(text.to_owned()),
            FieldType::Code => FieldValue::Code(text.to_owned()),
            FieldType::Date => FieldValue::Date(text.to_owned()),
            FieldType::Amount | FieldType::Decimal => FieldValue::Decimal(text.to_owned()),
            FieldType::Integer => {
                FieldValue::Integer(text.parse().map_err(|_| invalid("not an integer"))?)
            }
            FieldType::Boolean => FieldValue::Boolean(match text {
                "true" | "是" => true,
                "false" | "否" => false,
                _ => return Err(invalid("not a boolean (true/false)")),
            }),
        };
        self.check_value(&value)?;
        Ok(value)
    }

    /// Check that a typed value fits this field: its type, its syntax, and
    /// for listed codes, membership.
    pub fn check_value(&self, value: &FieldValue) -> Result<(), ValueError> {
        let invalid = |reason| ValueError::Invalid {
            field: self.code.clone(),
            expected: self.field_type,
            reason,
        };
        match (self.field_type, value) {
            (FieldType::Text, FieldValue::Text(_))
            | (FieldType::Integer, FieldValue::Integer(_))
            | (FieldType::Boolean, FieldValue::Boolean(_)) => Ok(()),
            (FieldType::Code, FieldValue::Code(s)) => match &self.values {
                Some(list) if !list.iter().any(|v| v == s) => Err(ValueError::NotInCodeList {
                    field: self.code.clone(),
                }),
                _ if s.trim().is_empty() => Err(invalid("empty code")),
                _ => Ok(()),
            },
            (FieldType::Date, FieldValue::Date(s)) => source::parse_date(s)
                .map(|_| ())
                .ok_or_else(|| invalid("not a date YYYY-MM-DD")),
            (FieldType::Amount, FieldValue::Decimal(s)) => {
                if is_decimal(s, false) {
                    Ok(())
                } else {
                    Err(invalid("not a non-negative decimal amount"))
                }
            }
            (FieldType::Decimal, FieldValue::Decimal(s)) => {
                if is_decimal(s, true) {
                    Ok(())
                } else {
                    Err(invalid("not a decimal number"))
                }
            }
            (expected, _) => Err(ValueError::WrongType {
                field: self.code.clone(),
                expected,
            }),
        }
    }
}

/// `[-]digits[.digits]`, no exponent, no leading `+`.
fn is_decimal(s: &str, signed: bool) -> bool {
    let s = match s.strip_prefix('-') {
        Some(rest) if signed => rest,
        Some(_) => return false,
        None => s,
    };
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// One credit record of a subject (信用记录): a category and a value per
/// field. Fields the record lacks are absent from the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The category code.
    pub category: String,
    /// Field code → value.
    pub fields: BTreeMap<String, FieldValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_catalogue_loads() {
        let c = Catalogue::parse(BASE_CATALOGUE_TOML, BASE_CATALOGUE_ORIGIN)
            .unwrap_or_else(|e| panic!("{e}"));
        for code in [
            "registration",
            "admin_license",
            "admin_penalty",
            "red_list",
            "serious_dishonesty",
            "judgment_debtor",
            "tax_credit_rating",
            "public_credit_evaluation",
            "credit_commitment",
            "credit_repair",
        ] {
            assert!(c.category(code).is_some(), "missing {code}");
        }
        let classes: BTreeSet<_> = c
            .categories()
            .flat_map(|cat| cat.fields.iter().map(|f| f.class))
            .collect();
        assert_eq!(classes.len(), 4, "base catalogue uses every class");
        assert_eq!(Catalogue::base(), c);
    }

    #[test]
    fn values_are_checked_against_field_types() {
        let c = Catalogue::base();
        let amount = c.field("admin_penalty", "amount").unwrap();
        assert_eq!(
            amount.parse_value("12.50").unwrap(),
            FieldValue::Decimal("12.50".into())
        );
        for bad in ["-1", "1e3", "", ".5", "5.", "+5", "1,000"] {
            assert!(amount.parse_value(bad).is_err(), "{bad:?}");
        }
        let date = c.field("admin_penalty", "decision_date").unwrap();
        assert!(date.parse_value("2025-02-28").is_ok());
        assert!(date.parse_value("2025-02-29").is_err());
        assert!(matches!(
            date.check_value(&FieldValue::Text("x".into())),
            Err(ValueError::WrongType { .. })
        ));
        let grade = c.field("tax_credit_rating", "grade").unwrap();
        assert!(grade.parse_value("M").is_ok());
        assert!(matches!(
            grade.parse_value("E"),
            Err(ValueError::NotInCodeList { .. })
        ));
        let year = c.field("tax_credit_rating", "year").unwrap();
        assert_eq!(year.parse_value("2024").unwrap(), FieldValue::Integer(2024));
        assert!(year.parse_value("二〇二四").is_err());
        let fulfilled = c.field("credit_commitment", "fulfilled").unwrap();
        assert_eq!(
            fulfilled.parse_value("是").unwrap(),
            FieldValue::Boolean(true)
        );
        assert!(fulfilled.parse_value("yes").is_err());
        let score = c.field("public_credit_evaluation", "score").unwrap();
        assert!(score.parse_value("-3.5").is_ok());
    }
}
