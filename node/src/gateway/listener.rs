//! The gateway's accept loop: TCP → TLS 1.3 with a verified client
//! certificate → HTTP/1.1 (keep-alive) into the router, with the client's
//! identity in every request.
//!
//! Bounds: at most `max_connections` connections at once (more wait to be
//! accepted) and `max_connections_per_client` per client certificate (more
//! are closed after the handshake), a handshake deadline, a request-head
//! deadline that also closes a keep-alive connection left idle. Live
//! connections are registered with their certificate chain so that a CRL
//! reload can close those whose certificate no longer verifies
//! ([`LiveClients::recheck`]) — a TLS connection is never authenticated
//! again by itself. On shutdown each connection finishes the request in
//! hand and closes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::identity::ClientIdentity;
use super::tls::GatewayClientVerifier;
use crate::config::GatewayConfig;

/// How long a connection may take to finish its request after shutdown began.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway's live client connections.
#[derive(Debug, Default)]
pub struct LiveClients {
    next: AtomicU64,
    map: Mutex<HashMap<u64, LiveClient>>,
}

#[derive(Debug)]
struct LiveClient {
    chain: Vec<CertificateDer<'static>>,
    fingerprint: [u8; 32],
    name: String,
    revoked: CancellationToken,
}

impl LiveClients {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveClient>> {
        // A poisoned map only means a task panicked while holding it; the
        // entries are still whole.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `client` unless it already holds `limit` connections.
    fn admit(&self, client: LiveClient, limit: u32) -> Option<u64> {
        let mut live = self.lock();
        let held = live
            .values()
            .filter(|c| c.fingerprint == client.fingerprint)
            .count();
        if held >= limit as usize {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        live.insert(id, client);
        Some(id)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// How many client connections are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-verify every live connection's client certificate with the trust
    /// in force now and close those that fail. Returns how many were closed.
    pub fn recheck(&self, verifier: &GatewayClientVerifier) -> usize {
        let now = UnixTime::now();
        let mut closed = 0;
        self.lock().retain(|_, c| {
            let Some((leaf, rest)) = c.chain.split_first() else {
                return true;
            };
            match verifier.verify(leaf, rest, now) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(client = %c.name, error = %e, "closing gateway connection: client certificate no longer verifies");
                    c.revoked.cancel();
                    closed += 1;
                    false
                }
            }
        });
        closed
    }
}

/// Everything one accept loop needs.
pub(crate) struct Listener {
    pub(crate) tcp: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) router: Router,
    pub(crate) config: GatewayConfig,
    /// The registry of client-certificate connections; `None` for a
    /// listener of browsers, which present no certificate (the console).
    pub(crate) live: Option<Arc<LiveClients>>,
}

impl Listener {
    /// Accept until `shutdown`; every connection task runs on `tracker`.
    pub(crate) async fn run(self, tracker: TaskTracker, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.max_connections as usize));
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = self.tcp.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "gateway accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let conn = Connection {
                acceptor: self.acceptor.clone(),
                router: self.router.clone(),
                config: self.config.clone(),
                live: self.live.clone(),
                shutdown: shutdown.clone(),
            };
            tracker.spawn(async move {
                let _permit = permit;
                conn.serve(tcp, peer).await;
            });
        }
        tracing::debug!("gateway stopped accepting");
    }
}

/// One accepted TCP connection, before and after its handshake.
struct Connection {
    acceptor: TlsAcceptor,
    router: Router,
    config: GatewayConfig,
    live: Option<Arc<LiveClients>>,
    shutdown: CancellationToken,
}

type Admitted = (Router, CancellationToken, Option<u64>, tracing::Span);

impl Connection {
    /// A client-certificate connection: its identity into every request,
    /// registered for CRL re-checks, within the per-client cap.
    fn admit_client(
        &self,
        live: &LiveClients,
        tls: &tokio_rustls::server::TlsStream<TcpStream>,
        peer: SocketAddr,
    ) -> Option<Admitted> {
        let chain: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        // The verifier admitted the chain, so its leaf parses as a client.
        let Some(identity) = chain
            .first()
            .and_then(|leaf| credex_pki::identity_from_der(leaf).ok())
            .and_then(|cert| ClientIdentity::from_certificate(&cert))
        else {
            tracing::error!(%peer, "gateway client certificate verified but unreadable");
            return None;
        };
        let revoked = CancellationToken::new();
        let admitted = live.admit(
            LiveClient {
                chain,
                fingerprint: identity.fingerprint(),
                name: identity.name().to_owned(),
                revoked: revoked.clone(),
            },
            self.config.max_connections_per_client,
        );
        let Some(id) = admitted else {
            tracing::warn!(client = %identity.name(), %peer, limit = self.config.max_connections_per_client, "gateway refused a connection: the client holds its limit");
            return None;
        };
        let span = tracing::info_span!("gateway_client", client = %identity.name(), %peer);
        let router = self.router.clone().layer(axum::Extension(identity));
        Some((router, revoked, Some(id), span))
    }

    async fn serve(self, tcp: TcpStream, peer: SocketAddr) {
        let handshake =
            tokio::time::timeout(self.config.handshake_timeout, self.acceptor.accept(tcp));
        let tls = match handshake.await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "gateway handshake refused");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "gateway handshake timed out");
                return;
            }
        };
        let (router, revoked, registered, span) = match &self.live {
            None => (
                self.router.clone(),
                CancellationToken::new(),
                None,
                tracing::info_span!("console_connection", %peer),
            ),
            Some(live) => {
                let Some(admitted) = self.admit_client(live, &tls, peer) else {
                    return;
                };
                admitted
            }
        };
        let service = router.into_service::<hyper::body::Incoming>();
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.config.header_timeout)
            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
        let mut http = std::pin::pin!(http);
        async {
            tokio::select! {
                r = http.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "gateway connection ended with an error");
                    }
                }
                _ = revoked.cancelled() => {
                    // Dropping the connection closes it at once, even mid-request.
                }
                _ = self.shutdown.cancelled() => {
                    http.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, http.as_mut()).await;
                }
            }
        }
        .instrument(span)
        .await;
        if let (Some(live), Some(id)) = (&self.live, registered) {
            live.remove(id);
        }
    }
}
