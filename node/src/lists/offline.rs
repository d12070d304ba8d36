//! The lists of a node's database for one-shot commands (the CLI), while
//! the node runs or not: messages are queued in the shared outbox and the
//! running node delivers them.
//!
//! Owns: [`OfflineLists`]. Does not own delivery (`crate::federation`).

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::offline::OfflineNode;

use super::policy::ListsPolicy;
use super::service::Lists;

/// The lists of a node's database, for one-shot commands while the node
/// runs (or not). Close with [`OfflineLists::close`].
pub struct OfflineLists {
    /// The lists.
    pub lists: Lists,
    node: OfflineNode,
}

impl OfflineLists {
    /// Open the node's storage and keys.
    pub async fn open(config: &NodeConfig) -> Result<OfflineLists, StartError> {
        let node = OfflineNode::open(config).await?;
        Ok(OfflineLists {
            lists: Lists::new(
                node.federation.clone(),
                ListsPolicy::with_catalogue(config, node.policy.catalogue())?,
            ),
            node,
        })
    }

    /// Stop the background tasks and close storage and the endpoint.
    pub async fn close(self) {
        self.node.close().await;
    }
}
