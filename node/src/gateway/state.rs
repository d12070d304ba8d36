//! What the gateway's handlers work with: the node's parts, shared.
//!
//! Handlers take it as `Extension<GatewayState>`, so the routes and their
//! document can be built (and tested) without a running node.

use std::sync::Arc;

use crate::config::NodeConfig;
use crate::federation::Federation;
use crate::pseudonyms::NaturalPersons;
use crate::query::QueryService;
use crate::storage::Storage;

/// The node's parts the gateway's handlers use.
#[derive(Clone)]
pub struct GatewayState {
    inner: Arc<GatewayParts>,
    query_turns: Arc<tokio::sync::Mutex<()>>,
}

/// The node's parts, as the composition root hands them over.
pub struct GatewayParts {
    /// The node's configuration (its region, catalogue, policy files).
    pub config: NodeConfig,
    /// The store (records, flow state, the access log).
    pub storage: Storage,
    /// The query service: the policy and catalogue in force.
    pub queries: Arc<QueryService>,
    /// Federation messaging, for changes that must reach other regions.
    pub federation: Federation,
    /// The checkpointer (auditors read the newest checkpoint).
    pub checkpoints: crate::log::Checkpoints,
    /// The node's certificate chain as PEM (auditors verify its log key).
    pub chain_pem: String,
    /// Under `sm2-sm3`, the node's message-signing chain as PEM (auditors
    /// verify each checkpoint's SM2 line with it).
    pub signing_chain_pem: Option<String>,
    /// Where the gateway's background work (sending approved queries) runs,
    /// so shutdown waits for it.
    pub tracker: tokio_util::task::TaskTracker,
    /// The pseudonym key ring and vault key, to name natural persons
    /// (none when the node has no `[pseudonyms] keys`).
    pub persons: Option<Arc<NaturalPersons>>,
}

impl GatewayState {
    /// Share `parts` with every handler.
    pub fn new(parts: GatewayParts) -> Self {
        GatewayState {
            inner: Arc::new(parts),
            query_turns: Arc::default(),
        }
    }

    /// The node's parts.
    pub fn parts(&self) -> &GatewayParts {
        &self.inner
    }

    /// The store.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// A turn to change a query held at the gateway (one at a time).
    pub async fn query_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.query_turns.lock().await
    }
}

impl GatewayParts {
    /// The node's chains as an export carries them.
    pub fn chains(&self) -> crate::export::NodeChains<'_> {
        crate::export::NodeChains {
            tls: &self.chain_pem,
            signing: self.signing_chain_pem.as_deref(),
        }
    }
}
