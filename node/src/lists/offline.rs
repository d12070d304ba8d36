//! The lists of a node's database for one-shot commands (the CLI), while
//! the node runs or not: messages are queued in the shared outbox and the
//! running node delivers them.
//!
//! Owns: [`OfflineLists`]. Does not own delivery (`crate::federation`).

use std::sync::Arc;

use crate::config::NodeConfig;
use crate::federation::{Federation, FederationContext};
use crate::service::StartError;

use super::policy::ListsPolicy;
use super::service::Lists;

/// The lists of a node's database, for one-shot commands while the node
/// runs (or not): messages are queued in the shared outbox and the running
/// node delivers them. Close with [`OfflineLists::close`].
pub struct OfflineLists {
    /// The lists.
    pub lists: Lists,
    storage: crate::storage::Storage,
    transport: crate::transport::Transport,
    shutdown: tokio_util::sync::CancellationToken,
    tracker: tokio_util::task::TaskTracker,
}

impl OfflineLists {
    /// Open the node's storage and keys.
    pub async fn open(config: &NodeConfig) -> Result<OfflineLists, StartError> {
        let creds = crate::service::load_credentials(config)?;
        let chain: Vec<Vec<u8>> = creds.chain.iter().map(|c| c.to_vec()).collect();
        let node_key = crate::service::load_node_signing_key(config)?;
        let transport = crate::service::client_transport(config)?;
        let storage = crate::service::open_storage(config).await?;
        let pem = std::fs::read_to_string(&config.tls.key).map_err(|e| StartError::TlsFile {
            path: config.tls.key.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        let log_key = Arc::new(crate::log::LogKey::from_pkcs8_pem(
            &pem,
            config.region,
            &config.name,
        )?);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let checkpoints =
            crate::log::Checkpoints::spawn(storage.clone(), log_key, &tracker, shutdown.clone())
                .await?;
        let federation = Federation::new(FederationContext {
            storage: storage.clone(),
            checkpoints,
            region: config.region,
            node: config.name.clone(),
            node_key,
            chain,
            trust: transport.trust().clone(),
            peers: crate::federation::PeerPool::new(transport.clone(), &config.peers),
        });
        Ok(OfflineLists {
            lists: Lists::new(federation, ListsPolicy::for_node(config)?),
            storage,
            transport,
            shutdown,
            tracker,
        })
    }

    /// Stop the background tasks and close storage and the endpoint.
    pub async fn close(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.storage.close().await;
        self.transport.close().await;
    }
}
