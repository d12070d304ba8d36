//! A node's database, keys and policy for one-shot commands (the CLI),
//! while the node runs or not: messages are queued in the shared outbox
//! and the running node delivers them; log entries are appended under the
//! storage's cross-process lock, and a checkpointer of this process signs
//! checkpoints of the same tree when a command needs one (a report's
//! inclusion proof).
//!
//! Owns: [`OfflineNode`]. Does not own delivery (`crate::federation`).

use credex_policies::PolicySet;

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::{Federation, FederationContext};

/// A node's storage, keys and policy, for one-shot commands. Close with
/// [`OfflineNode::close`].
pub struct OfflineNode {
    /// The node's messaging (its storage, keys and checkpoints).
    pub federation: Federation,
    /// The sharing policy the node loads.
    pub policy: PolicySet,
    storage: crate::storage::Storage,
    transport: crate::transport::Transport,
    shutdown: tokio_util::sync::CancellationToken,
    tracker: tokio_util::task::TaskTracker,
}

impl OfflineNode {
    /// Open the node's storage and keys.
    pub async fn open(config: &NodeConfig) -> Result<OfflineNode, StartError> {
        let identity = crate::boot::NodeIdentity::load(config)?;
        let transport = crate::boot::client_transport_with(config, identity.credentials.clone())?;
        identity.check_suite(transport.trust().current().suite(), config)?;
        let crate::boot::NodeIdentity {
            signing_key,
            chain,
            log_key,
            ..
        } = identity;
        let storage = crate::boot::open_storage(config).await?;
        crate::log::head::check_local(config, &storage).await?;
        let policy = crate::query::load_policy(config.region, &config.policy)?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let checkpoints = crate::log::Checkpoints::spawn(
            storage.clone(),
            log_key,
            Some(config.data_dir.join(crate::log::head::HEAD_FILE)),
            &tracker,
            shutdown.clone(),
        )
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
        Ok(OfflineNode {
            federation,
            policy,
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
