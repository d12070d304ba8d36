//! The web console (issue 16; plan in `docs/console-plan.md`): the pages
//! credit-centre officers and auditors use, served by the node on a listener
//! of its own (`[console] listen`), HTTPS with the node's certificate and no
//! client certificate (officers' browsers have none).
//!
//! - [`assets`]: every file shipped in the binary, zh-CN first with an
//!   English switch;
//! - [`headers`]: a strict Content-Security-Policy with no inline script or
//!   style, `nosniff`, no referrer, no framing, on every response;
//! - [`sign_in`]: officers sign in with a WebCrypto signature over a
//!   one-use challenge ([`challenge`]) and get a server-side [`session`];
//! - [`guard`]: the origin check, the session and the CSRF token that
//!   every state-changing call needs;
//! - [`origins`]: which origins are the console's own;
//! - [`queries`]: two-person cross-region queries, signed in the browsers;
//! - [`health`]: federation health — peers, outbox, CRLs, the upward
//!   channel over 30 days, and alerts;
//! - [`subjects`]: a subject's page — holdings, recognised evaluations,
//!   list entries, objections, and who accessed it;
//! - [`audits`]: an auditor's offline verification of an uploaded export,
//!   with the anomaly rules over its accesses.

pub mod assets;
pub mod audit_jobs;
pub mod audits;
pub mod challenge;
pub mod guard;
pub mod headers;
pub mod health;
pub mod origins;
pub mod queries;
pub mod reports;
pub mod session;
pub mod sign_in;
pub mod state;
pub mod subjects;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::boot::StartError;
use crate::boot::web_identity::WebIdentity;
use crate::config::{ConsoleConfig, GatewayConfig};
use crate::gateway::GatewayState;
use crate::gateway::listener::Listener;
use crate::tls::{FederationTrust, NodeCredentials};
pub use origins::Origins;
pub use state::ConsoleState;

/// A running console.
#[derive(Debug, Clone)]
pub struct Console {
    addr: SocketAddr,
    certificate: Vec<u8>,
}

impl Console {
    /// Serve the console `config` describes, for the node whose parts
    /// `node` holds, until `shutdown`, on `tracker`. Officers' certificates
    /// are verified under `trust`; `creds` are served when the console has
    /// no certificate of its own.
    pub async fn start(
        config: &ConsoleConfig,
        creds: &NodeCredentials,
        trust: FederationTrust,
        node: GatewayState,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Console, StartError> {
        let fail = |reason: String| StartError::Flow {
            flow: "console",
            reason,
        };
        let listen = config.listen;
        let web = WebIdentity::load(config.web_identity.as_ref(), creds)?;
        let certificate = web.leaf().to_vec();
        let tls = crate::gateway::tls::https_server_config(web.chain, &web.key, None)
            .map_err(|e| fail(format!("console TLS: {e}")))?;
        let tcp = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| fail(format!("console.listen: cannot bind {listen}: {e}")))?;
        let addr = tcp
            .local_addr()
            .map_err(|e| fail(format!("console.listen: {e}")))?;
        let origins = match &config.origins {
            Some(o) => Origins::configured(o.clone()),
            None => {
                let (dns, ips) = credex_pki::identity::server_names(&certificate)
                    .map_err(|e| fail(format!("console certificate: {e}")))?;
                Origins::from_names(&dns, &ips, addr.port())
            }
        };
        tracing::info!(origins = ?origins.all(), "console origins");
        let state = ConsoleState::new(node, trust, origins);
        let listener = Listener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            router: router(state),
            config: GatewayConfig::on(listen),
            live: None,
        };
        let conns = tracker.clone();
        tracker.spawn(listener.run(conns, shutdown));
        tracing::info!(%addr, "console listening");
        Ok(Console { addr, certificate })
    }

    /// The bound TCP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The certificate it serves (DER), for browsers to trust.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
}

/// The console's routes: its API and its files, with the security headers
/// on every response.
pub fn router(state: ConsoleState) -> Router {
    let api = Router::new()
        .route("/console/api/challenges", post(sign_in::challenge))
        .route("/console/api/sessions", post(sign_in::sign_in))
        .route(
            "/console/api/session",
            get(sign_in::current).delete(sign_in::sign_out),
        )
        .route(
            "/console/api/queries",
            get(queries::list).post(queries::create),
        )
        .route("/console/api/queries/{id}", get(queries::show))
        .route("/console/api/queries/{id}/signatures", post(queries::sign))
        .route("/console/api/query-options", get(queries::options))
        .route("/console/api/subjects", post(subjects::show))
        .route("/console/api/subjects/federated", post(subjects::gather))
        .route(
            "/console/api/subjects/federated/{request}",
            get(subjects::gathered),
        )
        .route("/console/api/reports", post(reports::issue_report))
        .route("/console/api/reports/verify", post(reports::verify_report))
        .route("/console/api/health", get(health::show))
        .route("/console/api/audits", post(audits::start))
        .route("/console/api/audits/own", post(audits::own))
        .route("/console/api/audits/{id}", get(audits::show))
        .layer(axum::middleware::from_fn(guard::same_origin));
    Router::new()
        .merge(api)
        .fallback(serve_asset)
        .layer(Extension(state))
        .layer(axum::middleware::from_fn(headers::secure))
}

async fn serve_asset(request: Request) -> Response {
    let Some(asset) = assets::find(request.uri().path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = assets::etag(asset);
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
