//! A ready-to-run development federation on one machine (`credex dev init`):
//! a root, region CAs, one node per region with its configuration, and
//! operators and an authorization authority per region.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use credex_pki::KeyAlgorithm;
use credex_protocol::{NodeName, RegionCode, Role};

use crate::config::logical_server_name;
use crate::pki_files::{CaDir, PkiFileError, lifetime, write_public};

/// One node of the development federation.
#[derive(Debug, Clone)]
pub struct DevNode {
    /// Region code.
    pub region: RegionCode,
    /// Node name.
    pub name: NodeName,
    /// Region name in words, for messages.
    pub label: &'static str,
    /// UDP port on 127.0.0.1.
    pub port: u16,
    /// The node's configuration file.
    pub config: PathBuf,
}

/// The regions `credex dev init` creates: Guizhou, Chongqing, Guangdong and
/// the national platform.
pub const DEV_REGIONS: [(&str, &str, &str); 4] = [
    ("520000", "gy-1", "Guizhou 贵州"),
    ("500000", "cq-1", "Chongqing 重庆"),
    ("440000", "gz-1", "Guangdong 广东"),
    ("000000", "national-1", "national platform 全国平台"),
];

/// First UDP port of the development federation.
pub const DEV_BASE_PORT: u16 = 7401;

/// Create the development federation in `dir` (which must not contain one
/// already). Nodes listen on `127.0.0.1:base_port…`.
pub fn init(dir: &Path, base_port: u16) -> Result<Vec<DevNode>, PkiFileError> {
    let alg = KeyAlgorithm::Ed25519;
    let root = CaDir::create_root(
        dir.join("pki/root"),
        "credex development federation root",
        alg,
        lifetime::ROOT_DAYS,
    )?;
    let mut nodes = Vec::new();
    let mut cas = Vec::new();
    for (i, (region, name, label)) in DEV_REGIONS.iter().enumerate() {
        let region: RegionCode = region.parse().map_err(|e| invalid(dir, e))?;
        let name: NodeName = name.parse().map_err(|e| invalid(dir, e))?;
        let ca = root.create_region(
            region,
            dir.join(format!("pki/{region}")),
            alg,
            lifetime::REGION_CA_DAYS,
        )?;
        let node_dir = dir.join(format!("nodes/{name}"));
        ca.issue_node(
            &name,
            &[logical_server_name(region, &name), "localhost".into()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            alg,
            lifetime::LEAF_DAYS,
            &node_dir,
        )?;
        let ops = dir.join(format!("operators/{region}"));
        for (op, role) in [
            ("req-1", Role::Requester),
            ("apv-1", Role::Approver),
            ("aud-1", Role::Auditor),
            ("adm-1", Role::Admin),
        ] {
            let op: NodeName = op.parse().map_err(|e| invalid(dir, e))?;
            ca.issue_operator(&op, role, alg, lifetime::LEAF_DAYS, &ops)?;
        }
        let portal: NodeName = "portal".parse().map_err(|e| invalid(dir, e))?;
        ca.issue_authority(
            &portal,
            alg,
            lifetime::LEAF_DAYS,
            &dir.join(format!("authorities/{region}")),
        )?;
        let port = base_port + i as u16;
        nodes.push(DevNode {
            region,
            name,
            label,
            port,
            config: node_dir.join("node.toml"),
        });
        cas.push(ca);
    }
    for node in &nodes {
        write_public(&node.config, &node_config(node, &nodes))?;
    }
    Ok(nodes)
}

fn invalid(dir: &Path, e: impl std::fmt::Display) -> PkiFileError {
    PkiFileError::Invalid {
        path: dir.to_owned(),
        reason: e.to_string(),
    }
}

/// The configuration text of `node`, peering with every other node.
fn node_config(node: &DevNode, all: &[DevNode]) -> String {
    let mut crls = vec!["\"../../pki/root/crl.pem\"".to_owned()];
    crls.extend(
        all.iter()
            .map(|n| format!("\"../../pki/{}/crl.pem\"", n.region)),
    );
    let mut s = format!(
        r#"# credex node configuration — development federation, {label}
[node]
region = "{region}"
name = "{name}"
data_dir = "data"

[tls]
cert = "{name}.pem"
key = "{name}.key"
root = "../../pki/root/ca.pem"
crls = [{crls}]
crl_reload_ms = 2000

[listen]
addr = "127.0.0.1:{port}"

[transport]
idle_timeout_ms = 30000
keep_alive_ms = 10000

[log]
format = "human"
level = "info"
"#,
        label = node.label,
        region = node.region,
        name = node.name,
        crls = crls.join(", "),
        port = node.port,
    );
    for peer in all.iter().filter(|p| p.name != node.name) {
        let _ = write!(
            s,
            "\n[[peers]]\nregion = \"{}\"\nname = \"{}\"\naddr = \"127.0.0.1:{}\"\n",
            peer.region, peer.name, peer.port
        );
    }
    s
}
