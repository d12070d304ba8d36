//! Connections to the configured peers ([`PeerPool`]).

use std::collections::HashMap;
use std::sync::Arc;

use credex_protocol::{RegionCode, Request, Response};

use super::error::DeliveryError;
use crate::config::PeerConfig;
use crate::transport::{PeerConnection, Transport};

/// Connections to the configured peers, by region, opened on demand and
/// reopened after a failure.
#[derive(Clone)]
pub struct PeerPool {
    transport: Transport,
    peers: Arc<HashMap<RegionCode, PeerConfig>>,
    live: Arc<tokio::sync::Mutex<HashMap<RegionCode, Arc<PeerConnection>>>>,
}

impl PeerPool {
    /// A pool over `peers` (the configuration's `[[peers]]`), dialled with
    /// `transport`.
    pub fn new(transport: Transport, peers: &[PeerConfig]) -> PeerPool {
        PeerPool {
            transport,
            peers: Arc::new(peers.iter().map(|p| (p.region, p.clone())).collect()),
            live: Arc::default(),
        }
    }

    /// The open connection to `region`'s peer, if there is one now (no
    /// dialling, no waiting: `None` while a dial is under way).
    pub fn open_connection(&self, region: RegionCode) -> Option<Arc<PeerConnection>> {
        let live = self.live.try_lock().ok()?;
        live.get(&region)
            .filter(|c| c.quic().close_reason().is_none())
            .cloned()
    }

    /// Whether a peer of `region` is configured.
    pub fn knows(&self, region: RegionCode) -> bool {
        self.peers.contains_key(&region)
    }

    /// Send `request` to the configured peer of `region` and return its
    /// response. A transport failure drops the cached connection, so the
    /// next call dials again.
    pub async fn request(
        &self,
        region: RegionCode,
        request: &Request,
    ) -> Result<Response, DeliveryError> {
        let conn = self.connection(region).await?;
        match conn.request(request).await {
            Ok(response) => Ok(response),
            Err(e) => {
                let mut live = self.live.lock().await;
                if live.get(&region).is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                    live.remove(&region);
                }
                Err(DeliveryError::Transport {
                    region,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// The live connection to the configured peer of `region`, dialled if
    /// there is none (or it closed).
    pub async fn connection(
        &self,
        region: RegionCode,
    ) -> Result<Arc<PeerConnection>, DeliveryError> {
        let mut live = self.live.lock().await;
        if let Some(conn) = live.get(&region) {
            if conn.quic().close_reason().is_none() {
                return Ok(Arc::clone(conn));
            }
            live.remove(&region);
        }
        let peer = self
            .peers
            .get(&region)
            .ok_or(DeliveryError::UnknownPeer(region))?;
        let conn =
            self.transport
                .connect_peer(peer)
                .await
                .map_err(|e| DeliveryError::Unreachable {
                    region,
                    node: peer.name.clone(),
                    addr: peer.addr,
                    reason: e.to_string(),
                })?;
        let conn = Arc::new(conn);
        live.insert(region, Arc::clone(&conn));
        Ok(conn)
    }
}
