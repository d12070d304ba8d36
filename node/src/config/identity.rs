//! `[node]`: who this node is — its region, its name within the region and
//! its role (provincial or national) — and where it keeps its data.
//!
//! Owns: [`NodeRole`] and the checks that tie the role to the region. Does
//! not own how other nodes are named ([`super::peers`]).

use std::path::PathBuf;

use credex_protocol::{NodeName, RegionCode};
use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

/// The role a node plays in the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A provincial or city credit centre's node.
    Provincial,
    /// The national credit information sharing platform's node (region 000000).
    National,
}

/// The raw `[node]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    region: String,
    name: String,
    role: Option<NodeRole>,
    pub(super) data_dir: PathBuf,
}

/// The node's region, name and role; the role defaults from the region and
/// must agree with it (national exactly for 000000).
pub(super) fn parse(
    raw: &RawNode,
    values: &Values<'_>,
) -> Result<(RegionCode, NodeName, NodeRole), ConfigError> {
    let region: RegionCode = raw
        .region
        .parse()
        .map_err(|e| values.invalid("node.region", format!("{e}")))?;
    let name: NodeName = raw
        .name
        .parse()
        .map_err(|e| values.invalid("node.name", format!("{e}")))?;
    let role = raw.role.unwrap_or(if region.is_national() {
        NodeRole::National
    } else {
        NodeRole::Provincial
    });
    match (role, region.is_national()) {
        (NodeRole::National, false) => Err(values.invalid(
            "node.role",
            format!("the national role needs region 000000, not {region}"),
        )),
        (NodeRole::Provincial, true) => Err(values.invalid(
            "node.role",
            "region 000000 is the national platform; its role must be \"national\"".into(),
        )),
        _ => Ok((region, name, role)),
    }
}
