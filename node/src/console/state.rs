//! What the console's handlers work with: the node's parts (shared with
//! the gateway, whose logic the console drives) and the console's own —
//! trust for sign-ins, its origins, sessions and challenges.

use std::sync::Arc;

use super::audit_jobs::Audits;
use super::challenge::Challenges;
use super::origins::Origins;
use super::session::Sessions;
use crate::gateway::GatewayState;
use crate::tls::FederationTrust;

/// The console's state, shared by every handler as `Extension<ConsoleState>`.
#[derive(Clone)]
pub struct ConsoleState {
    inner: Arc<Parts>,
}

struct Parts {
    node: GatewayState,
    trust: FederationTrust,
    origins: Origins,
    sessions: Sessions,
    challenges: Challenges,
    audits: Audits,
    /// What the health page judges upward deadlines by, loaded once.
    upward: crate::upward::UpwardRules,
}

impl ConsoleState {
    /// The console of the node whose parts `node` holds, trusting
    /// `trust` (swapped on CRL reloads) and accepting `origins`.
    pub fn new(node: GatewayState, trust: FederationTrust, origins: Origins) -> Self {
        let upward = crate::upward::UpwardRules::of_started_node(
            &node.parts().config,
            node.parts().queries.policy().catalogue(),
        );
        ConsoleState {
            inner: Arc::new(Parts {
                upward,
                node,
                trust,
                origins,
                sessions: Sessions::default(),
                challenges: Challenges::default(),
                audits: Audits::default(),
            }),
        }
    }

    /// The node's parts.
    pub fn node(&self) -> &GatewayState {
        &self.inner.node
    }

    /// The reporting list and calendar upward deadlines are judged by.
    pub fn upward_rules(&self) -> &crate::upward::UpwardRules {
        &self.inner.upward
    }

    /// The federation's trust as of now.
    pub fn trust(&self) -> &FederationTrust {
        &self.inner.trust
    }

    /// The origins requests are accepted from.
    pub fn origins(&self) -> &Origins {
        &self.inner.origins
    }

    /// Open sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Outstanding sign-in challenges.
    pub fn challenges(&self) -> &Challenges {
        &self.inner.challenges
    }

    /// Audits run from this console.
    pub fn audits(&self) -> &Audits {
        &self.inner.audits
    }

    /// The node's clock, Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.inner.node.storage().clock().now_ms()
    }
}
