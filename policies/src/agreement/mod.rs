//! Mutual-recognition agreements (信用评价结果互认协议) and the pure decision
//! whether a region recognises another region's credit evaluation result
//! (docs/design.md §8), plus the joint reward/punishment terms of the same
//! agreement (联合奖惩, §9).
//!
//! One agreement per TOML file (decision 0400):
//!
//! ```toml
//! code = "chongqing-guizhou"
//! name_zh = "渝黔信用评价结果互认协议"
//! name_en = "Chongqing–Guizhou credit evaluation mutual recognition agreement"
//! example = true                     # grade tables are examples …
//! note = "…to be replaced by the agreement's real tables"  # required when example
//! members = ["500000", "520000"]
//!
//! [joint]                            # optional: joint reward/punishment (联合奖惩)
//! list_types = ["red", "serious_dishonesty", "key_attention"]
//! respond_within_days = 5            # working days (see reporting::HolidayCalendar)
//! feedback_within_days = 10
//! change_confirm_within_days = 3
//!
//! [joint.release]                    # optional: entry details released to members
//! serious_dishonesty = ["document_number", "facts"]   # fields of the list's category
//!
//! [[scheme]]
//! scheme = "public_credit"           # public_credit | tax_credit | environmental_credit
//! versions = ["2024"]                # scheme versions accepted
//! max_age_days = 365                 # age measured from issued_at
//! common_scale = ["A", "B", "C", "D"]    # best → worst
//!
//! [[scheme.treatment]]               # one per common grade: what recognition grants
//! grade = "A"
//! supervision_tier = "A: reduced random inspections"
//! green_channel = true
//! notes = "…"                        # optional
//!
//! [[scheme.member]]                  # one per member
//! region = "520000"
//! scale = ["优", "良", "中", "差"]   # the member's own scale, best → worst
//! to_common = { "优" = "A", "良" = "B", "中" = "C", "差" = "D" }  # own → common
//! to_local = { A = "优", B = "良", C = "中", D = "差" }            # common → own
//! ```
//!
//! Load-time rules, each an [`AgreementErrorKind`] naming the file, line,
//! agreement, scheme, member and grade: at least two members, none twice,
//! never the national platform 000000; every scheme listed once with at least
//! one version, `max_age_days` ≥ 1 and a non-empty common scale; every member
//! has exactly one scale per scheme and no non-member has one; both mappings
//! are total (every own grade has a common grade, every common grade a local
//! grade), only use grades of the scales they map between, and keep the
//! best → worst order; every common grade has exactly one treatment; the
//! joint section names list types once and deadlines of 1 to 365 days; the
//! `[reports]` section (credit reports members accept from each other,
//! decision 0970) names known report kinds and check purposes, each at least
//! once, and a maximum age of 1 to 366 days.

//!
//! The parts: the raw TOML shapes (`raw`), the agreement-level and joint
//! checks (`parse`), a scheme's scales and mappings (`scheme`), the errors
//! ([`AgreementErrorKind`]), the set's hash (`hash`) and the recognition
//! decision ([`recognise()`]). This file holds the loaded [`Agreement`] and
//! [`AgreementSet`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use credex_protocol::report::ReportKind;

use crate::Purpose;
use crate::measures::ListType;
use crate::source;

mod error;
mod hash;
mod parse;
mod raw;
mod recognise;
mod scheme;

pub use error::{AgreementError, AgreementErrorKind, NotMonotone};
pub use recognise::{NotRecognisedReason, RecognitionDecision, recognise};

use hash::canonical_hash;
use parse::Parser;

/// The shipped Pan-Pearl River agreement (`policies/agreements/pan-pearl-river.toml`).
pub const BUILTIN_PAN_PEARL_RIVER_TOML: &str =
    include_str!("../../agreements/pan-pearl-river.toml");
/// The shipped Chongqing–Guizhou agreement (`policies/agreements/chongqing-guizhou.toml`).
pub const BUILTIN_CHONGQING_GUIZHOU_TOML: &str =
    include_str!("../../agreements/chongqing-guizhou.toml");

/// What recognising a result grants locally for one common grade (互认待遇).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Treatment {
    /// The supervision tier the subject is placed in (分级分类监管), e.g.
    /// `"A: reduced random inspections"`.
    pub supervision_tier: String,
    /// Whether the subject gets the administrative-approval green channel (绿色通道).
    pub green_channel: bool,
    /// Further notes; may be empty.
    pub notes: String,
}

/// One member's scale for a scheme and its two mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberScale {
    /// The member's own grades, best → worst.
    pub scale: Vec<String>,
    /// Own grade → common grade (total over `scale`).
    pub to_common: BTreeMap<String, String>,
    /// Common grade → own grade (total over the common scale): the local
    /// grade a result recognised by this member is given.
    pub to_local: BTreeMap<String, String>,
}

/// The terms for one recognised scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeTerms {
    /// The scheme.
    pub scheme: Scheme,
    /// Scheme versions accepted.
    pub versions: BTreeSet<String>,
    /// A result counts for at most this many days after its `issued_at`.
    pub max_age_days: u32,
    /// The common scale (共同等级), best → worst.
    pub common_scale: Vec<String>,
    /// Common grade → what recognition grants.
    pub treatments: BTreeMap<String, Treatment>,
    /// Every member's scale and mappings.
    pub members: BTreeMap<RegionCode, MemberScale>,
}

/// The joint reward and punishment terms (联合奖惩): which lists the
/// agreement binds and the deadlines of initiate → respond → feedback
/// (发起—响应—反馈), in working days.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JointTerms {
    /// The lists whose entries travel between members.
    pub list_types: BTreeSet<ListType>,
    /// A receiving member answers an initiated entry within this many working days (响应).
    pub respond_within_days: u32,
    /// It reports the measures taken within this many working days (反馈).
    pub feedback_within_days: u32,
    /// It confirms an exit, repair or correction within this many working days.
    pub change_confirm_within_days: u32,
    /// Per list type, the detail fields of the list's catalogue category
    /// (beyond an entry's own basis, authority, dates and measures) that a
    /// member receives: the egress gate releases these and withholds the
    /// rest. Never an `internal` field. A list type not named here gets no
    /// details.
    pub release: BTreeMap<ListType, BTreeSet<String>>,
}

/// What credit reports members accept from each other (信用报告互认,
/// decision 0970): which kinds, for which purposes, and how old at most.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReportTerms {
    /// The report kinds accepted.
    pub kinds: BTreeSet<ReportKind>,
    /// The purposes a report may have been issued for.
    pub purposes: BTreeSet<Purpose>,
    /// Days after issuance a report is still accepted (within its own
    /// validity).
    pub max_age_days: u32,
}

/// A validated mutual-recognition agreement. Only [`Agreement::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// Stable code (a slug), e.g. `pan-pearl-river`.
    pub code: String,
    /// Chinese name (中文名称).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Whether the grade tables are examples, to be replaced by the
    /// agreement's real tables.
    pub example: bool,
    /// A note on the tables (required when `example`).
    pub note: Option<String>,
    /// Member regions.
    pub members: BTreeSet<RegionCode>,
    /// Recognised schemes.
    pub schemes: BTreeMap<Scheme, SchemeTerms>,
    /// Joint reward and punishment terms, if the agreement has them.
    pub joint: Option<JointTerms>,
    /// Credit report recognition terms, if the agreement has them.
    pub reports: Option<ReportTerms>,
}

impl Agreement {
    /// Parse and validate one agreement file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Agreement, AgreementError> {
        Parser { text, origin }.agreement().map(|(a, _)| a)
    }

    /// Read and parse an agreement file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Agreement, AgreementError> {
        let (text, origin) = source::read_text(path.as_ref(), AgreementErrorKind::Read)?;
        Agreement::parse(&text, &origin)
    }

    /// Whether `region` is a member.
    pub fn has_member(&self, region: RegionCode) -> bool {
        self.members.contains(&region)
    }

    /// Whether the joint section binds `list_type`.
    pub fn binds(&self, list_type: ListType) -> bool {
        self.joint
            .as_ref()
            .is_some_and(|j| j.list_types.contains(&list_type))
    }
}

/// The agreements a node applies, by code, with a canonical content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementSet {
    agreements: BTreeMap<String, Agreement>,
    hash: [u8; 32],
}

impl AgreementSet {
    /// No agreements: nothing is recognised and no joint peers exist.
    pub fn empty() -> AgreementSet {
        AgreementSet::from_map(BTreeMap::new())
    }

    /// The shipped agreements: `pan-pearl-river` and `chongqing-guizhou`
    /// (both `example = true`).
    pub fn builtin() -> AgreementSet {
        static BUILTIN: LazyLock<AgreementSet> = LazyLock::new(|| {
            // Invariant: the embedded files are valid and their codes
            // differ; the unit test `shipped_agreements_load` fails otherwise.
            #[allow(clippy::expect_used)]
            AgreementSet::empty()
                .with_text(
                    BUILTIN_PAN_PEARL_RIVER_TOML,
                    "agreements/pan-pearl-river.toml",
                )
                .and_then(|s| {
                    s.with_text(
                        BUILTIN_CHONGQING_GUIZHOU_TOML,
                        "agreements/chongqing-guizhou.toml",
                    )
                })
                .expect("embedded agreements are valid")
        });
        BUILTIN.clone()
    }

    /// This set plus the agreement in `text`. An agreement with the same
    /// code replaces an `example = true` one (the real tables replacing the
    /// shipped examples); any other repeated code is refused.
    pub fn with_text(&self, text: &str, origin: &str) -> Result<AgreementSet, AgreementError> {
        let parser = Parser { text, origin };
        let (agreement, span) = parser.agreement()?;
        if self
            .agreements
            .get(&agreement.code)
            .is_some_and(|old| !old.example)
        {
            return Err(parser.err(
                &span,
                AgreementErrorKind::DuplicateAgreement(agreement.code),
            ));
        }
        let mut agreements = self.agreements.clone();
        agreements.insert(agreement.code.clone(), agreement);
        Ok(AgreementSet::from_map(agreements))
    }

    /// This set plus the agreement file at `path` (see [`AgreementSet::with_text`]).
    pub fn with_file(&self, path: impl AsRef<Path>) -> Result<AgreementSet, AgreementError> {
        let (text, origin) = source::read_text(path.as_ref(), AgreementErrorKind::Read)?;
        self.with_text(&text, &origin)
    }

    fn from_map(agreements: BTreeMap<String, Agreement>) -> AgreementSet {
        let hash = canonical_hash(&agreements);
        AgreementSet { agreements, hash }
    }

    /// The agreement named `code`.
    pub fn agreement(&self, code: &str) -> Option<&Agreement> {
        self.agreements.get(code)
    }

    /// Every agreement, ordered by code.
    pub fn iter(&self) -> impl Iterator<Item = &Agreement> {
        self.agreements.values()
    }

    /// The agreements that have both `a` and `b` as members, in precedence
    /// order: fewest members first (the more specific agreement), then by
    /// code. Empty when `a == b`.
    pub fn agreements_between(&self, a: RegionCode, b: RegionCode) -> Vec<&Agreement> {
        if a == b {
            return Vec::new();
        }
        let mut out: Vec<&Agreement> = self
            .agreements
            .values()
            .filter(|ag| ag.has_member(a) && ag.has_member(b))
            .collect();
        out.sort_by(|x, y| {
            x.members
                .len()
                .cmp(&y.members.len())
                .then_with(|| x.code.cmp(&y.code))
        });
        out
    }

    /// The agreements under which `here` accepts a credit report of `kind`
    /// issued by `issuer` for `purpose`, in precedence order (see
    /// [`AgreementSet::agreements_between`]).
    pub fn accepting_reports(
        &self,
        here: RegionCode,
        issuer: RegionCode,
        kind: ReportKind,
        purpose: Purpose,
    ) -> Vec<&Agreement> {
        self.agreements_between(here, issuer)
            .into_iter()
            .filter(|a| {
                a.reports
                    .as_ref()
                    .is_some_and(|r| r.kinds.contains(&kind) && r.purposes.contains(&purpose))
            })
            .collect()
    }

    /// The regions `region` exchanges `list_type` entries with: every other
    /// member of every agreement that contains `region` and whose joint
    /// section binds `list_type`.
    pub fn joint_peers(&self, region: RegionCode, list_type: ListType) -> BTreeSet<RegionCode> {
        self.agreements
            .values()
            .filter(|a| a.has_member(region) && a.binds(list_type))
            .flat_map(|a| a.members.iter().copied())
            .filter(|&r| r != region)
            .collect()
    }

    /// SHA-256 over the canonical encoding of the parsed agreements (domain
    /// `credex/agreement-set/v1`, decision 0400): file layout and comments do
    /// not change it; any change in meaning does. Every recognition decision
    /// the node logs records it.
    pub fn content_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`AgreementSet::content_hash`] as lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

impl Default for AgreementSet {
    fn default() -> Self {
        AgreementSet::builtin()
    }
}

#[cfg(test)]
mod tests;
