//! `[[peers]]`: the other nodes this node dials — region, name, address and
//! the logical TLS server name it expects.
//!
//! Owns: [`PeerConfig`] and [`logical_server_name`]. Does not own which
//! peers a flow talks to (policies and agreements decide that) nor the
//! connections themselves (`crate::transport`).

use std::net::SocketAddr;

use credex_protocol::{NodeName, RegionCode};
use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

/// A peer node this node dials.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer's region; its certificate must name it.
    pub region: RegionCode,
    /// The peer's node name; its certificate must name it.
    pub name: NodeName,
    /// UDP address of the peer's endpoint.
    pub addr: SocketAddr,
    /// TLS server name sent as SNI (a stable logical name, not an IP).
    pub server_name: String,
}

/// The logical TLS server name of a node: `NAME.REGION.credex`.
pub fn logical_server_name(region: RegionCode, name: &NodeName) -> String {
    format!("{name}.{region}.credex")
}

/// One raw `[[peers]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeer {
    region: String,
    name: String,
    addr: String,
    server_name: Option<String>,
}

/// Every `[[peers]]` entry: valid region, name, address and server name;
/// never this node itself (`region`, `name`); none twice.
pub(super) fn parse(
    raw: &[RawPeer],
    region: RegionCode,
    name: &NodeName,
    values: &Values<'_>,
) -> Result<Vec<PeerConfig>, ConfigError> {
    let mut peers = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        let key = |k: &str| format!("peers[{i}].{k}");
        let peer_region: RegionCode = p
            .region
            .parse()
            .map_err(|e| values.invalid(&key("region"), format!("{e}")))?;
        let peer_name: NodeName = p
            .name
            .parse()
            .map_err(|e| values.invalid(&key("name"), format!("{e}")))?;
        let addr: SocketAddr = p.addr.parse().map_err(|_| {
            values.invalid(
                &key("addr"),
                format!("{:?} is not an IP address with a port", p.addr),
            )
        })?;
        if peer_region == region && &peer_name == name {
            return Err(values.invalid(&key("name"), "a node cannot list itself as a peer".into()));
        }
        if peers
            .iter()
            .any(|q: &PeerConfig| q.region == peer_region && q.name == peer_name)
        {
            return Err(values.invalid(
                &key("name"),
                format!("peer {peer_name} of region {peer_region} is listed twice"),
            ));
        }
        let server_name = p
            .server_name
            .clone()
            .unwrap_or_else(|| logical_server_name(peer_region, &peer_name));
        if rustls_pki_types::ServerName::try_from(server_name.clone()).is_err() {
            return Err(values.invalid(
                &key("server_name"),
                format!("{server_name:?} is not a valid DNS name"),
            ));
        }
        peers.push(PeerConfig {
            region: peer_region,
            name: peer_name,
            addr,
            server_name,
        });
    }
    Ok(peers)
}
