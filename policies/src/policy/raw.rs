//! The policy file as TOML says it, before any check: serde shapes that
//! keep the span of every value so a refusal can name its line.
//!
//! Owns: the raw shapes and their two hand-written deserializers (`fields`
//! as a list or `"all_shareable"`, dates as TOML dates or strings). Does not
//! own what is valid ([`super::validate`]).

use std::fmt;

use credex_protocol::RegionCode;
use serde::Deserialize;
use time::Date;
use toml::Spanned;

use super::{AuthorizationRequirement, Purpose};
use crate::source;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) owner: RegionCode,
    #[serde(default)]
    pub(super) legal_basis: Vec<RawLegalBasis>,
    #[serde(default)]
    pub(super) rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLegalBasis {
    pub(super) code: Spanned<String>,
    pub(super) title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) id: Spanned<String>,
    pub(super) peers: Spanned<RawPeers>,
    pub(super) purposes: Spanned<Vec<Spanned<Purpose>>>,
    pub(super) valid_from: Spanned<DateValue>,
    pub(super) valid_until: Option<Spanned<DateValue>>,
    pub(super) subject_authorization: Spanned<AuthorizationRequirement>,
    pub(super) legal_bases: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) consent_from: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) quota: Option<Spanned<RawQuota>>,
    #[serde(default)]
    pub(super) release: Vec<RawRelease>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeers {
    pub(super) group: Option<Spanned<String>>,
    pub(super) regions: Option<Vec<Spanned<RegionCode>>>,
    pub(super) national: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuota {
    pub(super) per_day: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelease {
    pub(super) category: Spanned<String>,
    pub(super) fields: Spanned<RawFields>,
}

/// `fields = ["a", "b"]` or `fields = "all_shareable"`.
pub(super) enum RawFields {
    List(Vec<Spanned<String>>),
    AllShareable,
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of field codes or \"all_shareable\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawFields, E> {
                if s == "all_shareable" {
                    Ok(RawFields::AllShareable)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(s), &self))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawFields, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    out.push(item);
                }
                Ok(RawFields::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A date written either as a TOML local date (`2025-01-01`) or as a string
/// (`"2025-01-01"`); anything else is kept as text and refused after
/// parsing, so the error can name the rule.
pub(super) enum DateValue {
    Valid(Date),
    Invalid(String),
}

impl<'de> Deserialize<'de> for DateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DateValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateValue, E> {
                Ok(match source::parse_date(s) {
                    Some(d) => DateValue::Valid(d),
                    None => DateValue::Invalid(s.to_owned()),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<DateValue, A::Error> {
                let dt = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                let text = dt.to_string();
                Ok(match (dt.date, dt.time, dt.offset) {
                    (Some(_), None, None) => match source::parse_date(&text) {
                        Some(d) => DateValue::Valid(d),
                        None => DateValue::Invalid(text),
                    },
                    _ => DateValue::Invalid(text),
                })
            }
        }
        d.deserialize_any(V)
    }
}
