//! The integration gateway (issue 15): HTTPS/JSON for the region's own
//! systems — its provincial credit platform and its business systems — on
//! a listener of its own (`[gateway] listen`). The federation keeps
//! speaking QUIC between nodes; nothing here is reachable from another
//! region.
//!
//! - **Who may call**: a client certificate issued by this region's CA
//!   (`credex pki client --roles …`), checked at the handshake
//!   ([`tls::GatewayClientVerifier`]) against the federation trust in force
//!   — CRL reloads apply to the next handshake and close live connections
//!   of revoked clients ([`Gateway::recheck_connections`]). The roles in the
//!   certificate decide which operations it may use
//!   ([`identity::ClientIdentity::require`]).
//! - **How much**: a token bucket per client certificate
//!   ([`rate_limit`]); refusals of an authenticated client (role, rate) are
//!   journaled ([`refusals`]).
//! - **What it answers**: JSON, and RFC 9457 problem details with a stable
//!   `type` on every refusal ([`problem`]); bodies are read within a bound
//!   and refused with the member at fault ([`body`]).
//! - **What it promises**: every route is in the OpenAPI 3.1 document at
//!   `/openapi.json`, generated from the handlers ([`openapi`]); a route
//!   that is served but not documented is refused.
//!
//! Not here: the federation's transport (`crate::transport`), the
//! metrics endpoint (`crate::metrics`, unauthenticated, for scrapers).

pub mod auditor;
pub mod body;
pub mod checks;
pub mod events;
pub mod feed;
pub mod identity;
pub mod listener;
pub mod openapi;
pub mod problem;
pub mod queries;
pub mod rate_limit;
pub mod refusals;
pub mod reports;
pub mod router;
pub mod state;
pub mod subject_access;
pub mod tls;
pub mod whoami;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use identity::ClientIdentity;
pub use listener::LiveClients;
pub use problem::{Problem, ProblemType};
pub use state::{GatewayParts, GatewayState};

use crate::boot::StartError;
use crate::config::GatewayConfig;
use crate::tls::{FederationTrust, NodeCredentials};

/// A running gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    addr: SocketAddr,
    live: Arc<LiveClients>,
    verifier: Arc<tls::GatewayClientVerifier>,
}

impl Gateway {
    /// Bind `config.listen` and serve until `shutdown`, on `tracker`.
    pub async fn start(
        config: &GatewayConfig,
        state: GatewayState,
        creds: &NodeCredentials,
        trust: FederationTrust,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Gateway, StartError> {
        let fail = |reason: String| StartError::Flow {
            flow: "gateway",
            reason,
        };
        let verifier = Arc::new(tls::GatewayClientVerifier::new(
            trust,
            state.parts().config.region,
        ));
        let web =
            crate::boot::web_identity::WebIdentity::load(config.web_identity.as_ref(), creds)?;
        let server =
            tls::https_server_config(web.chain, &web.key, Some(Arc::clone(&verifier) as _))
                .map_err(|e| fail(format!("gateway TLS configuration: {e}")))?;
        let tcp = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| {
                fail(format!(
                    "gateway.listen: cannot bind {}: {e}",
                    config.listen
                ))
            })?;
        let addr = tcp
            .local_addr()
            .map_err(|e| fail(format!("gateway.listen: {e}")))?;
        let live = Arc::new(LiveClients::default());
        let limits = Arc::new(rate_limit::ClientLimits::new(config));
        let (router, _doc) = router::build(state, limits);
        let listener = listener::Listener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            router,
            config: config.clone(),
            live: Some(Arc::clone(&live)),
        };
        let conns = tracker.clone();
        tracker.spawn(listener.run(conns, shutdown));
        tracing::info!(%addr, "gateway listening");
        Ok(Gateway {
            addr,
            live,
            verifier,
        })
    }

    /// The bound TCP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many client connections are open.
    pub fn live_connections(&self) -> usize {
        self.live.len()
    }

    /// Close every live connection whose client certificate no longer
    /// verifies (after a CRL reload). Returns how many were closed.
    pub fn recheck_connections(&self) -> usize {
        self.live.recheck(&self.verifier)
    }
}
