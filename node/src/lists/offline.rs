//! The lists of a node's database for one-shot commands (the CLI), while
//! the node runs or not: messages are queued in the shared outbox and the
//! running node delivers them.
//!
//! Owns: [`OfflineLists`]. Does not own delivery (`crate::federation`).

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::{Federation, FederationContext};

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
        let crate::boot::NodeIdentity {
            credentials,
            signing_key,
            chain,
            log_key,
            ..
        } = crate::boot::NodeIdentity::load(config)?;
        let transport = crate::boot::client_transport_with(config, credentials)?;
        let storage = crate::boot::open_storage(config).await?;
        let policy = crate::query::load_policy(config.region, &config.policy)?;
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
            node_key: signing_key,
            chain,
            trust: transport.trust().clone(),
            peers: crate::federation::PeerPool::new(transport.clone(), &config.peers),
        });
        Ok(OfflineLists {
            lists: Lists::new(
                federation,
                ListsPolicy::with_catalogue(config, policy.catalogue())?,
            ),
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
