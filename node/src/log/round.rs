//! One witnessing round on demand: every configured peer is asked to
//! cosign the same checkpoint of this node's log, so that an export taken
//! now ends on a checkpoint its witnesses vouch for (issue 18 §4). The
//! background loop ([`crate::service::dial_peers_in_background`]) does the
//! same every few seconds over the connections a node keeps open.

use std::time::Duration;

use super::{Checkpoints, LogError, LogKey, SignedHead, cosign_head};
use crate::config::PeerConfig;
use crate::storage::Storage;
use crate::transport::Transport;

/// How long one peer may take to cosign in a round.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(10);

/// What a round achieved.
#[derive(Debug, Clone)]
pub struct WitnessRound {
    /// The checkpoint every peer was asked to cosign.
    pub head: SignedHead,
    /// The peers (`REGION/NAME`) that cosigned it.
    pub cosigned_by: Vec<String>,
    /// The peers that did not, and why.
    pub failures: Vec<String>,
}

/// Sign a checkpoint of the whole tree now (if none covers it) and have
/// every peer in `peers` cosign that one checkpoint, concurrently. A log
/// with no entry has nothing to witness: `Ok(None)`.
pub async fn witness_round(
    storage: &Storage,
    key: &std::sync::Arc<LogKey>,
    checkpoints: &Checkpoints,
    transport: &Transport,
    peers: &[PeerConfig],
) -> Result<Option<WitnessRound>, LogError> {
    let size = storage.tree_head().size;
    if size == 0 {
        return Ok(None);
    }
    let head = checkpoints.covering(size - 1).await?;
    let mut asks = {
        let (storage, key, checkpoints, head) = (
            storage.clone(),
            std::sync::Arc::clone(key),
            checkpoints.clone(),
            head.clone(),
        );
        super::each_peer::each_peer(transport, peers, ROUND_TIMEOUT, move |conn| {
            let (storage, key, checkpoints, head) = (
                storage.clone(),
                std::sync::Arc::clone(&key),
                checkpoints.clone(),
                head.clone(),
            );
            async move {
                cosign_head(&storage, &key, &checkpoints, &conn, &head, 0)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
    };
    let mut round = WitnessRound {
        head,
        cosigned_by: Vec::new(),
        failures: Vec::new(),
    };
    while let Some(joined) = asks.join_next().await {
        match joined {
            Ok((who, Ok(_))) => round.cosigned_by.push(who),
            Ok((who, Err(reason))) => round.failures.push(format!("{who}: {reason}")),
            Err(e) => round
                .failures
                .push(format!("a witnessing task failed: {e}")),
        }
    }
    round.cosigned_by.sort();
    Ok(Some(round))
}
