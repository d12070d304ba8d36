//! Record values checked against the catalogue: one typed value of a field
//! ([`FieldValue`]), parsing and checking it against its field's type and
//! code list ([`Field::parse_value`], [`Field::check_value`]), and a credit
//! record ([`Record`]).
//!
//! It does not decide who may see a value (the policies and the egress gate
//! do, from the field's sensitivity class).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Field, FieldType};
use crate::source;

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
    use crate::catalogue::Catalogue;

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
