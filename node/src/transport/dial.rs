//! Dialling a configured peer, and failing over between the addresses of a
//! peer served by several processes (decision 1020).

use std::collections::HashMap;
use std::net::SocketAddr;

use credex_protocol::{NodeName, RegionCode};

use super::{ClientError, PeerConnection, Transport};

/// How long a dial to the address of a peer's process last reached may
/// go unanswered before its other processes are dialled too (decision 1020).
pub const FAILOVER_AFTER: std::time::Duration = std::time::Duration::from_millis(300);

impl Transport {
    /// Dial the configured peer `peer` and exchange `Hello`, expecting
    /// its certificate to name its region and node ([`Transport::connect`]).
    pub async fn connect_peer(
        &self,
        peer: &crate::config::PeerConfig,
    ) -> Result<PeerConnection, ClientError> {
        if peer.fallback_addrs.is_empty() {
            return self
                .connect(
                    peer.addr,
                    &peer.server_name,
                    peer.region,
                    Some(peer.name.clone()),
                )
                .await;
        }
        // A peer served by several processes (decision 1020): the address
        // last reached first, then, if it has not answered within
        // `FAILOVER_AFTER`, the others too; the first to answer wins. A
        // process that died leaves no error to wait for (its UDP port just
        // stays silent), so waiting out its handshake would stall every
        // exchange with the region for the whole handshake timeout.
        let key = (peer.region, peer.name.clone());
        let last = self.reached_lock().get(&key).copied();
        let mut order: Vec<SocketAddr> = last.into_iter().collect();
        order.extend(peer.addrs().filter(|a| Some(*a) != last));
        let mut dials = tokio::task::JoinSet::new();
        for (i, addr) in order.into_iter().enumerate() {
            let this = self.clone();
            let peer = peer.clone();
            dials.spawn(async move {
                if i > 0 {
                    tokio::time::sleep(FAILOVER_AFTER).await;
                }
                let dialled = this
                    .connect(
                        addr,
                        &peer.server_name,
                        peer.region,
                        Some(peer.name.clone()),
                    )
                    .await;
                (addr, dialled)
            });
        }
        let mut failed = None;
        while let Some(joined) = dials.join_next().await {
            match joined {
                Ok((addr, Ok(conn))) => {
                    dials.abort_all();
                    self.reached_lock().insert(key, addr);
                    return Ok(conn);
                }
                Ok((addr, Err(e))) => {
                    tracing::debug!(%addr, peer = %peer.name, error = %e, "peer process not reachable");
                    failed = Some(e);
                }
                Err(e) => tracing::warn!(error = %e, "a dial task ended abnormally"),
            }
        }
        self.reached_lock().remove(&key);
        Err(failed.unwrap_or(ClientError::Unreachable {
            peer: format!("{}/{}", peer.region, peer.name),
        }))
    }

    /// The map of addresses last reached; a poisoned lock only means a
    /// panic elsewhere, and the map holds whole entries.
    fn reached_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(RegionCode, NodeName), SocketAddr>> {
        self.reached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
