//! One exchange with each configured peer at once, each over a connection
//! of its own and within a time limit: how a node asks its witnesses what
//! they saw ([`super::head`]) and has them cosign ([`super::round`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::config::PeerConfig;
use crate::transport::{PeerConnection, Transport};

/// What one peer's exchange gave: the peer as `REGION/NAME`, and the
/// exchange's result or why it failed.
pub(super) type PeerResult<T> = (String, Result<T, String>);

/// Dial every peer in `peers` and run `exchange` on each connection,
/// concurrently, each within `timeout` (dial included); the connection is
/// closed after. Results arrive in the returned set as they finish.
pub(super) fn each_peer<T, F, Fut>(
    transport: &Transport,
    peers: &[PeerConfig],
    timeout: Duration,
    exchange: F,
) -> JoinSet<PeerResult<T>>
where
    T: Send + 'static,
    F: Fn(Arc<PeerConnection>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for peer in peers.iter().cloned() {
        let (transport, exchange) = (transport.clone(), exchange.clone());
        set.spawn(async move {
            let who = format!("{}/{}", peer.region, peer.name);
            let result = tokio::time::timeout(timeout, async {
                let conn = Arc::new(
                    transport
                        .connect_peer(&peer)
                        .await
                        .map_err(|e| e.to_string())?,
                );
                let result = exchange(Arc::clone(&conn)).await;
                conn.close();
                result
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:.1} s", timeout.as_secs_f64())));
            (who, result)
        });
    }
    set
}
