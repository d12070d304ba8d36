//! What a catalogue describes: categories of credit information
//! ([`Category`]), their fields ([`Field`]), each field's type
//! ([`FieldType`]) and sensitivity class ([`SensitivityClass`]), and the
//! kinds of subject ([`SubjectKind`]) a category is about.
//!
//! It does not load or validate catalogue files (`load`) nor check record
//! values against a field (`values`).

use std::fmt;

use serde::{Deserialize, Serialize};

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

    pub(super) fn tag(self) -> u8 {
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

    pub(super) fn tag(self) -> u8 {
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

    pub(super) fn tag(self) -> u8 {
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
