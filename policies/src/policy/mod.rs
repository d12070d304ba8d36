//! A node's sharing policy (共享策略): declarative TOML saying which fields of
//! which categories may be released to which peers, for which purposes,
//! under which subject-side condition, in which period, within which quota.
//! Deny by default: anything no rule releases is withheld.
//!
//! ```toml
//! owner = "520000"                       # the node's region
//!
//! [[legal_basis]]                        # bases rules may accept (法定依据)
//! code = "joint-punishment-memorandum"
//! title = "关于对失信被执行人实施联合惩戒的合作备忘录"
//!
//! [[rule]]
//! id = "ppr-procurement"
//! peers = { group = "pan-pearl-river" }  # and/or regions = ["500000"], national = true
//! purposes = ["public_procurement", "administrative_approval"]
//! valid_from = "2025-01-01"              # China Standard Time calendar days, inclusive
//! valid_until = "2027-12-31"             # optional: open-ended when absent
//! subject_authorization = "required"     # or "not_required"
//! legal_bases = ["joint-punishment-memorandum"]  # suffice instead of an authorization
//! consent_from = ["owner", "national"]   # authorities whose consent counts (the default; see consent)
//! quota = { per_day = 10000 }            # optional
//!
//! [[rule.release]]
//! category = "admin_penalty"
//! fields = ["decision_number", "decision_date", "basis", "amount"]  # or "all_shareable"
//! ```
//!
//! Load-time rules, each a [`PolicyErrorKind`] naming the file, the line and
//! the reason:
//! - unknown keys, purposes, groups, legal bases, categories and fields are
//!   refused, as are invalid dates, `valid_until` before `valid_from`, and
//!   duplicate rule ids;
//! - an `internal` field can never be listed; a `restricted` field only by a
//!   rule that requires subject authorization; `legal_bases` only on a rule
//!   that requires subject authorization (they are what may stand in for it);
//! - `upward_reporting` is only for the national platform as peer;
//! - `consent_from` only on a rule that requires subject authorization, not
//!   empty, without repeats, and never naming an authority of one of the
//!   rule's peers (see [`crate::consent`]);
//! - two rules that apply to the same peer, purpose and category on some
//!   common day must agree on `subject_authorization`, `legal_bases` and
//!   `consent_from`.
//!
//! `shared` (政务共享) fields need no further condition: every peer of the
//! federation is a government credit node.
//!
//! The module reads top-down in its parts: [`purpose`](Purpose) and the
//! rule's values ([`Rule`]); the raw TOML shapes (`raw`); the checks on one
//! rule (`validate`) and between rules (`contradiction`); the errors
//! ([`PolicyErrorKind`]); and the canonical hash (`hash`). This file holds
//! the loaded [`PolicySet`] and the order in which loading runs.

use std::collections::BTreeMap;
use std::path::Path;

use credex_protocol::RegionCode;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::catalogue::Catalogue;
use crate::groups::AgreementGroups;
use crate::source::{self, LoadError};

mod contradiction;
mod error;
mod hash;
mod purpose;
mod raw;
mod rule;
mod validate;

pub use error::{Contradiction, PolicyError, PolicyErrorKind};
pub use purpose::Purpose;
pub use rule::{AuthorizationRequirement, LegalBasis, Peers, Quota, Rule};

/// China Standard Time (UTC+08:00): policy validity dates and quota days are
/// calendar days in this zone.
pub const CHINA_STANDARD_TIME: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    // Evaluated at compile time: +08:00 is always a valid offset.
    Err(_) => panic!("+08:00 is a valid UTC offset"),
};

/// The calendar day of `now` in China Standard Time; `None` only for instants
/// at the edge of the representable range.
pub fn china_date(now: OffsetDateTime) -> Option<Date> {
    now.checked_to_offset(CHINA_STANDARD_TIME).map(|t| t.date())
}

/// A loaded, validated sharing policy with its catalogue: what
/// [`crate::evaluate()`] decides against. Only [`PolicySet::parse`] builds one.
#[derive(Debug, Clone)]
pub struct PolicySet {
    owner: RegionCode,
    origin: String,
    legal_bases: BTreeMap<String, LegalBasis>,
    rules: Vec<Rule>,
    catalogue: Catalogue,
    hash: [u8; 32],
}

impl PolicySet {
    /// Parse and validate a policy from TOML `text` against `catalogue` and
    /// `groups`; `origin` (usually the file name) is used in error messages.
    ///
    /// Legal bases are checked first, then each rule in file order against
    /// the rules before it; the first refusal is returned.
    pub fn parse(
        text: &str,
        origin: &str,
        catalogue: &Catalogue,
        groups: &AgreementGroups,
    ) -> Result<PolicySet, PolicyError> {
        let raw: raw::RawPolicy = toml::from_str(text)
            .map_err(|e| LoadError::from_toml(origin, text, &e, PolicyErrorKind::Toml))?;
        let file = validate::PolicyText { origin, text };
        let owner = raw.owner;
        let legal_bases = validate::legal_bases(&file, raw.legal_basis)?;
        let context = validate::RuleContext {
            owner,
            catalogue,
            groups,
            legal_bases: &legal_bases,
        };
        let mut rules: Vec<Rule> = Vec::new();
        for raw_rule in raw.rule {
            let rule = validate::rule(&file, &context, raw_rule, &rules)?;
            rules.push(rule);
        }

        rules.sort_by(|a, b| a.id.cmp(&b.id));
        let hash = hash::canonical_hash(owner, &legal_bases, &rules, catalogue);
        Ok(PolicySet {
            owner,
            origin: origin.to_owned(),
            legal_bases,
            rules,
            catalogue: catalogue.clone(),
            hash,
        })
    }

    /// Read and parse a policy file.
    pub fn load_file(
        path: impl AsRef<Path>,
        catalogue: &Catalogue,
        groups: &AgreementGroups,
    ) -> Result<PolicySet, PolicyError> {
        let (text, origin) = source::read_text(path.as_ref(), PolicyErrorKind::Read)?;
        PolicySet::parse(&text, &origin, catalogue, groups)
    }

    /// The region whose data this policy governs.
    pub fn owner(&self) -> RegionCode {
        self.owner
    }

    /// The origin name it was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Its rules, ordered by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with `id`.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The legal bases it defines, by code.
    pub fn legal_bases(&self) -> &BTreeMap<String, LegalBasis> {
        &self.legal_bases
    }

    /// The catalogue it was validated against.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The canonical content hash: SHA-256 over the canonical encoding of the
    /// parsed policy (rules sorted by id, sets sorted, group membership
    /// resolved, `all_shareable` expanded) and the catalogue's hash. Comments,
    /// whitespace and order in the file do not change it.
    pub fn policy_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`PolicySet::policy_hash`] as lowercase hex.
    pub fn policy_hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}
