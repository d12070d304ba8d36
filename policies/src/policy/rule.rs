//! One validated rule of a sharing policy and the values it is made of: its
//! peers, the subject-side condition (authorization requirement, legal bases,
//! consent sources), its validity, quota and releases.
//!
//! Owns: the shapes callers read ([`Rule`], [`Peers`], [`LegalBasis`],
//! [`Quota`], [`AuthorizationRequirement`]). Does not own how they are
//! checked when a file is loaded ([`super::validate`]) nor how rules are
//! compared with each other ([`super::contradiction`]).

use std::collections::{BTreeMap, BTreeSet};

use credex_protocol::RegionCode;
use serde::Deserialize;
use time::Date;

use super::Purpose;
use crate::consent::{ConsentAuthority, ConsentSource};

/// Whether a rule needs the data subject's authorization (主体授权).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationRequirement {
    /// The request must carry the subject's electronic authorization covering
    /// it, or cite one of the rule's legal bases (for non-restricted fields).
    Required,
    /// Released without subject authorization.
    NotRequired,
}

impl AuthorizationRequirement {
    pub(super) fn tag(self) -> u8 {
        match self {
            AuthorizationRequirement::Required => 1,
            AuthorizationRequirement::NotRequired => 2,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            AuthorizationRequirement::Required => "required",
            AuthorizationRequirement::NotRequired => "not_required",
        }
    }
}

/// A legal basis a request may cite (法定依据), e.g.
/// `social-credit-planning-2014` 《社会信用体系建设规划纲要（2014—2020年）》.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalBasis {
    /// Stable code cited by requests.
    pub code: String,
    /// The title of the legal text.
    pub title: String,
}

/// A per-peer request quota (配额).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests per peer per China Standard Time day.
    pub per_day: u64,
}

/// The peers a rule applies to, as written and as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub(super) group: Option<String>,
    pub(super) regions: BTreeSet<RegionCode>,
    pub(super) national: bool,
    pub(super) members: BTreeSet<RegionCode>,
}

impl Peers {
    /// The agreement group named, if any.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// The regions listed explicitly.
    pub fn regions(&self) -> &BTreeSet<RegionCode> {
        &self.regions
    }

    /// Whether the national platform (000000) is a peer.
    pub fn national(&self) -> bool {
        self.national
    }

    /// Every peer region the rule applies to: group members and listed
    /// regions (the owner itself excluded), plus 000000 when `national`.
    /// Matching is by exact code: a city node is a peer only if listed.
    pub fn members(&self) -> &BTreeSet<RegionCode> {
        &self.members
    }

    /// Whether `region` is a peer of the rule.
    pub fn contains(&self, region: RegionCode) -> bool {
        self.members.contains(&region)
    }
}

/// One rule of a sharing policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(super) id: String,
    pub(super) line: u32,
    pub(super) peers: Peers,
    pub(super) purposes: BTreeSet<Purpose>,
    pub(super) valid_from: Date,
    pub(super) valid_until: Option<Date>,
    pub(super) authorization: AuthorizationRequirement,
    pub(super) legal_bases: BTreeSet<String>,
    pub(super) consent_from: BTreeSet<ConsentSource>,
    pub(super) quota: Option<Quota>,
    pub(super) releases: BTreeMap<String, BTreeSet<String>>,
}

impl Rule {
    /// The rule id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The line of the rule's `id` in its file.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Its peers.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The purposes it serves.
    pub fn purposes(&self) -> &BTreeSet<Purpose> {
        &self.purposes
    }

    /// First day in force (China Standard Time), inclusive.
    pub fn valid_from(&self) -> Date {
        self.valid_from
    }

    /// Last day in force (China Standard Time), inclusive; `None` = open-ended.
    pub fn valid_until(&self) -> Option<Date> {
        self.valid_until
    }

    /// Whether the subject's authorization is required.
    pub fn authorization(&self) -> AuthorizationRequirement {
        self.authorization
    }

    /// Legal bases that stand in for the subject's authorization
    /// (non-restricted fields only).
    pub fn legal_bases(&self) -> &BTreeSet<String> {
        &self.legal_bases
    }

    /// The authorities whose consent it accepts ([`crate::consent`]).
    pub fn consent_from(&self) -> &BTreeSet<ConsentSource> {
        &self.consent_from
    }

    /// Whether it accepts a subject authorization signed by `authority`,
    /// under a policy owned by `owner`.
    pub fn accepts_consent_from(&self, authority: &ConsentAuthority, owner: RegionCode) -> bool {
        self.consent_from.iter().any(|s| s.admits(authority, owner))
    }

    /// Its quota, if any.
    pub fn quota(&self) -> Option<Quota> {
        self.quota
    }

    /// Category → fields it releases (`all_shareable` already expanded).
    pub fn releases(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.releases
    }

    /// Whether it releases `field` of `category`.
    pub fn releases_field(&self, category: &str, field: &str) -> bool {
        self.releases
            .get(category)
            .is_some_and(|fields| fields.contains(field))
    }

    /// Whether `day` (China Standard Time) is within its validity.
    pub fn in_force_on(&self, day: Date) -> bool {
        self.valid_from <= day && self.valid_until.is_none_or(|until| day <= until)
    }

    /// The first day both `self` and `other` are in force, if any.
    pub(super) fn overlaps_in_time(&self, other: &Rule) -> Option<Date> {
        let start = self.valid_from.max(other.valid_from);
        let end = match (self.valid_until, other.valid_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        end.is_none_or(|end| start <= end).then_some(start)
    }
}
