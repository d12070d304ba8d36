//! An agreement file as TOML says it, before any check: serde shapes that
//! keep the span of every value so a refusal can name its line.
//!
//! Owns: the raw shapes. Does not own what is valid ([`super::parse`],
//! [`super::scheme`]).

use std::collections::BTreeMap;

use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use serde::Deserialize;
use toml::Spanned;

use crate::measures::ListType;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgreement {
    pub(super) code: Spanned<String>,
    pub(super) name_zh: String,
    pub(super) name_en: String,
    #[serde(default)]
    pub(super) example: bool,
    pub(super) note: Option<String>,
    pub(super) members: Spanned<Vec<Spanned<RegionCode>>>,
    pub(super) joint: Option<Spanned<RawJoint>>,
    pub(super) reports: Option<Spanned<RawReports>>,
    #[serde(default)]
    pub(super) scheme: Vec<RawScheme>,
}

/// `[reports]`: the credit reports members accept from each other.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReports {
    pub(super) kinds: Spanned<Vec<String>>,
    pub(super) purposes: Spanned<Vec<String>>,
    pub(super) max_age_days: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJoint {
    pub(super) list_types: Spanned<Vec<ListType>>,
    pub(super) respond_within_days: Spanned<u32>,
    pub(super) feedback_within_days: Spanned<u32>,
    pub(super) change_confirm_within_days: Spanned<u32>,
    #[serde(default)]
    pub(super) release: BTreeMap<String, Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScheme {
    pub(super) scheme: Spanned<Scheme>,
    pub(super) versions: Spanned<Vec<String>>,
    pub(super) max_age_days: Spanned<u32>,
    pub(super) common_scale: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) treatment: Vec<RawTreatment>,
    #[serde(default)]
    pub(super) member: Vec<RawMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTreatment {
    pub(super) grade: Spanned<String>,
    pub(super) supervision_tier: String,
    pub(super) green_channel: bool,
    #[serde(default)]
    pub(super) notes: String,
}

pub(super) type RawMapping = Spanned<BTreeMap<String, Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMember {
    pub(super) region: Spanned<RegionCode>,
    pub(super) scale: Spanned<Vec<Spanned<String>>>,
    pub(super) to_common: RawMapping,
    pub(super) to_local: RawMapping,
}
