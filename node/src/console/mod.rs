//! The web console (issue 16; plan in `docs/console-plan.md`): the pages
//! credit-centre officers and auditors use, served by the node on a listener
//! of its own (`[console] listen`), HTTPS with the node's certificate and no
//! client certificate (officers' browsers have none).
//!
//! Step a so far: the shell — every asset shipped in the binary
//! ([`assets`]), zh-CN first with an English switch, and the security
//! headers on every response ([`headers`]): a strict Content-Security-Policy
//! with no inline script or style, `nosniff`, no referrer, no framing.
//! Sign-in by a WebCrypto signature, sessions and CSRF come next.

pub mod assets;
pub mod headers;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::boot::StartError;
use crate::config::GatewayConfig;
use crate::gateway::listener::Listener;
use crate::tls::NodeCredentials;

/// A running console.
#[derive(Debug, Clone)]
pub struct Console {
    addr: SocketAddr,
}

impl Console {
    /// Bind `listen` and serve the console until `shutdown`, on `tracker`.
    pub async fn start(
        listen: SocketAddr,
        creds: &NodeCredentials,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Console, StartError> {
        let fail = |reason: String| StartError::Flow {
            flow: "console",
            reason,
        };
        let tls = crate::gateway::tls::https_server_config(creds, None)
            .map_err(|e| fail(format!("console TLS: {e}")))?;
        let tcp = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| fail(format!("console.listen: cannot bind {listen}: {e}")))?;
        let addr = tcp
            .local_addr()
            .map_err(|e| fail(format!("console.listen: {e}")))?;
        let listener = Listener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            router: router(),
            config: GatewayConfig::on(listen),
            live: None,
        };
        let conns = tracker.clone();
        tracker.spawn(listener.run(conns, shutdown));
        tracing::info!(%addr, "console listening");
        Ok(Console { addr })
    }

    /// The bound TCP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The console's routes: its files, with the security headers on every
/// response.
pub fn router() -> Router {
    Router::new()
        .fallback(serve_asset)
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
