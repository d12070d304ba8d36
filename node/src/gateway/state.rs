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
    /// The pseudonym key ring and vault key, to name natural persons
    /// (none when the node has no `[pseudonyms] keys`).
    pub persons: Option<Arc<NaturalPersons>>,
}

impl GatewayState {
    /// Share `parts` with every handler.
    pub fn new(parts: GatewayParts) -> Self {
        GatewayState {
            inner: Arc::new(parts),
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
}
