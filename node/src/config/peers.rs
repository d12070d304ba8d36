//! `[[peers]]`: the other nodes this node dials — region, name, address
//! (or the addresses of the several processes serving it, decision 1020)
//! and the logical TLS server name it expects.
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
    /// UDP address of the peer's endpoint (the first one listed).
    pub addr: SocketAddr,
    /// The addresses of the peer's other processes, in the order listed
    /// (`addr = ["…", "…"]`): a client that cannot reach one tries the
    /// next (decision 1020).
    pub fallback_addrs: Vec<SocketAddr>,
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
    addr: OneOrMore,
    server_name: Option<String>,
}

/// `addr = "…"` or `addr = ["…", "…"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMore {
    One(String),
    More(Vec<String>),
}

/// Most addresses one peer may list.
pub const MAX_PEER_ADDRS: usize = 16;

impl PeerConfig {
    /// Every address of the peer, the first listed first.
    pub fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.addr).chain(self.fallback_addrs.iter().copied())
    }
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
        let listed = match &p.addr {
            OneOrMore::One(a) => std::slice::from_ref(a),
            OneOrMore::More(list) => list.as_slice(),
        };
        if listed.is_empty() || listed.len() > MAX_PEER_ADDRS {
            return Err(values.invalid(
                &key("addr"),
                format!(
                    "lists {} addresses; give 1 to {MAX_PEER_ADDRS}",
                    listed.len()
                ),
            ));
        }
        let mut addrs = Vec::with_capacity(listed.len());
        for (j, a) in listed.iter().enumerate() {
            let addr: SocketAddr = a.parse().map_err(|_| {
                values.invalid(
                    &key(&format!("addr[{j}]")),
                    format!("{a:?} is not an IP address with a port"),
                )
            })?;
            if addrs.contains(&addr) {
                return Err(values.invalid(
                    &key(&format!("addr[{j}]")),
                    format!("{addr} is listed twice"),
                ));
            }
            addrs.push(addr);
        }
        let addr = addrs.remove(0);
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
            fallback_addrs: addrs,
            server_name,
        });
    }
    Ok(peers)
}
