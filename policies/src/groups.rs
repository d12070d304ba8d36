//! Agreement groups (区域合作协议成员): named sets of regions bound by a
//! cooperation agreement, which sharing-policy rules name as peers.
//!
//! The built-in groups ([`AgreementGroups::builtin`]) are the ones in
//! `policies/examples/groups.toml`:
//!
//! ```toml
//! [[group]]
//! code = "pan-pearl-river"
//! name_zh = "泛珠三角区域合作"
//! name_en = "Pan-Pearl River Delta regional cooperation"
//! members = ["350000", "360000", "430000", "440000", "450000", "460000", "510000", "520000", "530000"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use credex_protocol::RegionCode;
use serde::Deserialize;
use toml::Spanned;

use crate::source::{self, LoadError};

/// The built-in groups file (`policies/examples/groups.toml`).
pub const BUILTIN_GROUPS_TOML: &str = include_str!("../examples/groups.toml");

/// One agreement group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementGroup {
    /// Stable code, e.g. `pan-pearl-river`.
    pub code: String,
    /// Chinese name (中文名称).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Member regions (province-level or city codes).
    pub members: BTreeSet<RegionCode>,
}

/// Why a groups file failed to load.
pub type GroupsError = LoadError<GroupsErrorKind>;

/// The reason a groups file failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupsErrorKind {
    /// The file could not be read.
    #[error("cannot read groups file: {0}")]
    Read(String),
    /// Not valid TOML, an unknown key, a missing key, a wrong type or an
    /// invalid region code; the message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// The group code is not a slug (`a-z`, `0-9`, `-`, `_`).
    #[error("group code {0:?} must be a-z, 0-9, '-' and '_', at most 64 bytes")]
    BadCode(String),
    /// The same group code twice.
    #[error("group {0:?} is defined twice")]
    DuplicateGroup(String),
    /// A group with fewer than two members is no agreement.
    #[error("group {0:?} needs at least two member regions")]
    TooFewMembers(String),
    /// A member listed twice.
    #[error("group {group:?} lists region {region} twice")]
    DuplicateMember {
        /// The group code.
        group: String,
        /// The repeated region.
        region: RegionCode,
    },
    /// The national platform is not a party to regional agreements; rules
    /// name it with `national = true`.
    #[error(
        "group {0:?} lists 000000; the national platform is named by `national = true` in a rule, not by group membership"
    )]
    NationalMember(String),
}

/// A set of agreement groups by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementGroups {
    groups: BTreeMap<String, AgreementGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroups {
    #[serde(default)]
    group: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    code: Spanned<String>,
    name_zh: String,
    name_en: String,
    members: Spanned<Vec<Spanned<RegionCode>>>,
}

impl AgreementGroups {
    /// The built-in groups: `pan-pearl-river` (泛珠三角: 350000 360000 430000
    /// 440000 450000 460000 510000 520000 530000) and `chongqing-guizhou`
    /// (渝黔: 500000 520000).
    pub fn builtin() -> AgreementGroups {
        static BUILTIN: LazyLock<AgreementGroups> = LazyLock::new(|| {
            // Invariant: the embedded file is valid; the unit test
            // `builtin_groups` fails otherwise.
            #[allow(clippy::expect_used)]
            AgreementGroups::parse(BUILTIN_GROUPS_TOML, "examples/groups.toml")
                .expect("embedded groups file is valid")
        });
        BUILTIN.clone()
    }

    /// Parse a groups file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<AgreementGroups, GroupsError> {
        let raw: RawGroups = toml::from_str(text)
            .map_err(|e| LoadError::from_toml(origin, text, &e, GroupsErrorKind::Toml))?;
        let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
        let mut groups = BTreeMap::new();
        for g in raw.group {
            let code = g.code.get_ref().clone();
            if !source::is_slug(&code) {
                return Err(err(&g.code.span(), GroupsErrorKind::BadCode(code)));
            }
            if groups.contains_key(&code) {
                return Err(err(&g.code.span(), GroupsErrorKind::DuplicateGroup(code)));
            }
            let mut members = BTreeSet::new();
            for m in g.members.get_ref() {
                let region = *m.get_ref();
                if region.is_national() {
                    return Err(err(&m.span(), GroupsErrorKind::NationalMember(code)));
                }
                if !members.insert(region) {
                    return Err(err(
                        &m.span(),
                        GroupsErrorKind::DuplicateMember {
                            group: code,
                            region,
                        },
                    ));
                }
            }
            if members.len() < 2 {
                return Err(err(&g.members.span(), GroupsErrorKind::TooFewMembers(code)));
            }
            groups.insert(
                code.clone(),
                AgreementGroup {
                    code,
                    name_zh: g.name_zh,
                    name_en: g.name_en,
                    members,
                },
            );
        }
        Ok(AgreementGroups { groups })
    }

    /// Read and parse a groups file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<AgreementGroups, GroupsError> {
        let (text, origin) = source::read_text(path.as_ref(), GroupsErrorKind::Read)?;
        AgreementGroups::parse(&text, &origin)
    }

    /// The group named `code`.
    pub fn group(&self, code: &str) -> Option<&AgreementGroup> {
        self.groups.get(code)
    }

    /// All groups, ordered by code.
    pub fn iter(&self) -> impl Iterator<Item = &AgreementGroup> {
        self.groups.values()
    }
}

impl Default for AgreementGroups {
    fn default() -> Self {
        AgreementGroups::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: u32) -> RegionCode {
        RegionCode::from_u32(code).unwrap()
    }

    #[test]
    fn builtin_groups() {
        let g = AgreementGroups::builtin();
        let ppr: Vec<u32> = g
            .group("pan-pearl-river")
            .unwrap()
            .members
            .iter()
            .map(|m| m.as_u32())
            .collect();
        assert_eq!(
            ppr,
            [
                350000, 360000, 430000, 440000, 450000, 460000, 510000, 520000, 530000
            ]
        );
        let cg = &g.group("chongqing-guizhou").unwrap().members;
        assert_eq!(cg, &BTreeSet::from([r(500000), r(520000)]));
        assert_eq!(g.iter().count(), 2);
    }

    #[test]
    fn bad_groups_name_line_and_reason() {
        let e = AgreementGroups::parse(
            "[[group]]\ncode = \"g\"\nname_zh = \"x\"\nname_en = \"x\"\nmembers = [\"520000\", \"520000\"]\n",
            "groups.toml",
        )
        .unwrap_err();
        assert_eq!(e.location.line, Some(5));
        assert!(matches!(e.kind, GroupsErrorKind::DuplicateMember { .. }));
        let e = AgreementGroups::parse(
            "[[group]]\ncode = \"g\"\nname_zh = \"x\"\nname_en = \"x\"\nmembers = [\"520000\", \"990000\"]\n",
            "groups.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("groups.toml:5:"), "{e}");
        let e = AgreementGroups::parse(
            "[[group]]\ncode = \"g\"\nname_zh = \"x\"\nname_en = \"x\"\nmembers = [\"520000\", \"000000\"]\n",
            "groups.toml",
        )
        .unwrap_err();
        assert!(matches!(e.kind, GroupsErrorKind::NationalMember(_)));
        let e = AgreementGroups::parse("[[group]]\ncolour = 1\n", "groups.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
