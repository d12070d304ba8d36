//! The QUIC transport: one quinn endpoint per node that accepts federation
//! peers and dials them, one request per bidirectional stream.
//!
//! What this module guarantees (see `docs/protocol.md` for the wire rules):
//! - every connection, in either direction, is mutually authenticated by the
//!   verifiers of [`crate::tls`] — fully, on every handshake;
//! - frames are bounded before allocation, and buffered only as their
//!   bytes arrive, within a frame memory budget all connections share
//!   ([`frame`], [`ingress`]); a stalled frame is abandoned and requests
//!   time out;
//! - each peer region's requests and bytes are metered by token buckets on
//!   the frame header, before the payload is read, decoded, handled or
//!   logged; a request over quota is answered `RateLimited`
//!   (decision 0650);
//! - concurrent connections are capped in all and per peer node, streams per
//!   connection and unread bytes per stream and connection by QUIC flow
//!   control;
//! - [`Transport::recheck_connections`] closes every live connection whose
//!   peer no longer verifies (e.g. after a CRL reload).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use credex_pki::{CertIdentity, Purpose, Subject};
use credex_protocol::codec::FRAME_HEADER_LEN;
use credex_protocol::{
    ErrorCode, ErrorReply, FrameError, FrameLimit, Hello, NodeName, PROTOCOL_VERSION, RegionCode,
    Request, Response, decode, encode_frame,
};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, VarInt};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::TransportLimits;
use crate::tls::{self, FederationTrust, NodeCredentials};

mod dial;
pub mod frame;
pub mod ingress;
pub use dial::FAILOVER_AFTER;
mod peer;
pub mod socket;

pub use frame::stream_code;
use frame::{Budget, ReadFrameError, read_header, read_payload};
use ingress::{Ingress, IngressStats};
pub use peer::{ClientError, PeerConnection};

/// QUIC application close codes credex uses.
pub mod close_code {
    /// Normal shutdown of the node or the client.
    pub const SHUTDOWN: u32 = 0;
    /// The peer's certificate no longer verifies (revoked, expired).
    pub const REVOKED: u32 = 1;
    /// The peer already holds the maximum number of connections.
    pub const TOO_MANY_CONNECTIONS: u32 = 2;
    /// The peer broke the protocol.
    pub const PROTOCOL_VIOLATION: u32 = 3;
}

/// The authenticated identity of the node at the other end of a connection,
/// taken from its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The peer's region.
    pub region: RegionCode,
    /// The peer's node name.
    pub name: NodeName,
    /// SHA-256 of the peer's leaf certificate.
    pub fingerprint: [u8; 32],
    /// The peer's verified leaf certificate (DER): its key is the peer's log key.
    pub certificate: Vec<u8>,
    /// The peer's address.
    pub addr: SocketAddr,
}

impl std::fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.region, self.name)
    }
}

/// Errors of setting up the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The TLS configuration could not be built from the node's credentials.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// rustls produced a configuration QUIC cannot use.
    #[error("QUIC TLS configuration: {0}")]
    QuicTls(String),
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The credentials are not a node certificate.
    #[error("the TLS certificate is not a node certificate: it is a {0}")]
    NotANode(String),
    /// A transport limit is outside what QUIC accepts.
    #[error("transport limit: {0}")]
    Limit(String),
}

/// What a node does with a verified peer's request.
pub trait Handler: Send + Sync + 'static {
    /// Answer one request from `peer`. Must not panic; errors become
    /// [`Response::Error`] with a stable code.
    fn handle(
        &self,
        peer: &PeerIdentity,
        request: Request,
    ) -> impl Future<Output = Response> + Send;
}

struct LiveConnection {
    connection: quinn::Connection,
    peer: PeerIdentity,
    chain: Vec<CertificateDer<'static>>,
    inbound: bool,
}

/// Live connections, for caps and for closing revoked peers.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, LiveConnection>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveConnection>> {
        // Entries are inserted and removed whole; a panic elsewhere cannot
        // leave the map half-updated, so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn inbound_count(&self) -> usize {
        self.lock().values().filter(|c| c.inbound).count()
    }

    /// Register an inbound connection unless the peer is at its cap.
    fn admit(&self, conn: LiveConnection, per_peer: u32) -> Option<u64> {
        let mut live = self.lock();
        let held = live
            .values()
            .filter(|c| {
                c.inbound && c.peer.region == conn.peer.region && c.peer.name == conn.peer.name
            })
            .count();
        if conn.inbound && held >= per_peer as usize {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        live.insert(id, conn);
        Some(id)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// A node's QUIC endpoint: it accepts federation peers and dials them.
#[derive(Clone)]
pub struct Transport {
    endpoint: quinn::Endpoint,
    creds: Arc<NodeCredentials>,
    region: RegionCode,
    name: NodeName,
    trust: FederationTrust,
    limits: TransportLimits,
    transport_config: Arc<quinn::TransportConfig>,
    registry: Arc<Registry>,
    ingress: Arc<Ingress>,
    /// The address each peer of several was last reached at.
    reached: Arc<std::sync::Mutex<HashMap<(RegionCode, NodeName), SocketAddr>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("local_addr", &self.endpoint.local_addr().ok())
            .field("identity", &self.creds.identity.subject.to_string())
            .finish()
    }
}

fn transport_config(limits: &TransportLimits) -> Result<quinn::TransportConfig, SetupError> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(limits.idle_timeout).map_err(|e| SetupError::Limit(e.to_string()))?,
    ));
    t.keep_alive_interval(Some(limits.keep_alive));
    t.max_concurrent_bidi_streams(VarInt::from_u32(limits.max_streams_per_connection));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    // Unread bytes quinn buffers: one frame per stream (a stream carries
    // one frame), four frames per connection (decision 0650).
    let frame = u64::from(limits.max_frame.bytes()) + FRAME_HEADER_LEN as u64;
    let window = |bytes: u64| {
        VarInt::from_u64(bytes).map_err(|e| SetupError::Limit(format!("receive window: {e}")))
    };
    t.stream_receive_window(window(frame)?);
    t.receive_window(window(4 * frame)?);
    Ok(t)
}

fn peer_chain(conn: &quinn::Connection) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()
        .map(|b| *b)
}

fn peer_identity(chain: &[CertificateDer<'static>], addr: SocketAddr) -> Option<PeerIdentity> {
    let identity: CertIdentity = credex_pki::identity_from_der(chain.first()?).ok()?;
    match identity.subject {
        Subject::Node { region, name } => Some(PeerIdentity {
            region,
            name,
            fingerprint: identity.fingerprint,
            certificate: chain.first().map(|c| c.to_vec()).unwrap_or_default(),
            addr,
        }),
        _ => None,
    }
}

impl Transport {
    /// Bind the endpoint on `listen` with this node's credentials.
    pub fn bind(
        listen: SocketAddr,
        creds: NodeCredentials,
        trust: FederationTrust,
        limits: TransportLimits,
    ) -> Result<Transport, SetupError> {
        let Subject::Node { region, name } = creds.identity.subject.clone() else {
            return Err(SetupError::NotANode(creds.identity.subject.to_string()));
        };
        let tls = tls::server_config(&creds, trust.clone())?;
        let quic_tls =
            QuicServerConfig::try_from(tls).map_err(|e| SetupError::QuicTls(e.to_string()))?;
        let transport_config = Arc::new(transport_config(&limits)?);
        let limits_ingress = limits.ingress.clone();
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_tls));
        server.transport_config(Arc::clone(&transport_config));
        // Handshakes in flight are bounded separately from established connections.
        server.max_incoming(limits.max_connections.max(16) as usize);
        let bind_error = |source| SetupError::Bind {
            addr: listen,
            source,
        };
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket::bind(listen).map_err(bind_error)?,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(bind_error)?;
        Ok(Transport {
            endpoint,
            creds: Arc::new(creds),
            region,
            name,
            trust,
            limits,
            transport_config,
            registry: Arc::new(Registry::default()),
            ingress: Arc::new(Ingress::new(limits_ingress)),
            reached: Arc::default(),
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// This node's identity as its certificate binds it.
    pub fn identity(&self) -> &CertIdentity {
        &self.creds.identity
    }

    /// The federation trust this transport verifies against.
    pub fn trust(&self) -> &FederationTrust {
        &self.trust
    }

    /// The quotas and frame memory budget applied to peers' requests.
    pub fn ingress(&self) -> &Ingress {
        &self.ingress
    }

    /// Throttled requests, abandoned frames and frame memory in use.
    pub fn ingress_stats(&self) -> IngressStats {
        self.ingress.stats()
    }

    /// How many connections are live (inbound and outbound).
    pub fn live_connections(&self) -> usize {
        self.registry.lock().len()
    }

    /// Accept and serve peers until `shutdown` is cancelled. Each connection
    /// and each request runs in a task on `tracker`.
    ///
    /// Cancel-safe: cancelling `shutdown` stops accepting, and the endpoint
    /// closes all connections.
    pub async fn serve<H: Handler>(
        &self,
        handler: Arc<H>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        loop {
            let incoming = tokio::select! {
                _ = shutdown.cancelled() => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(i) => i,
                    None => break,
                },
            };
            if self.registry.inbound_count() >= self.limits.max_connections as usize {
                tracing::warn!(remote = %incoming.remote_address(), "connection refused: node at its connection limit");
                incoming.refuse();
                continue;
            }
            let this = self.clone();
            let handler = Arc::clone(&handler);
            let shutdown = shutdown.clone();
            let tracker2 = tracker.clone();
            tracker.spawn(async move {
                this.serve_connection(incoming, handler, shutdown, tracker2)
                    .await;
            });
        }
        self.endpoint.close(
            VarInt::from_u32(close_code::SHUTDOWN),
            b"node shutting down",
        );
    }

    async fn serve_connection<H: Handler>(
        &self,
        incoming: quinn::Incoming,
        handler: Arc<H>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        let remote = incoming.remote_address();
        let connecting = match incoming.accept() {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%remote, error = %e, "incoming connection failed");
                return;
            }
        };
        let connection = match timeout(self.limits.handshake_timeout, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::info!(%remote, error = %e, "handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%remote, "handshake timed out");
                return;
            }
        };
        let Some(chain) = peer_chain(&connection) else {
            connection.close(
                VarInt::from_u32(close_code::PROTOCOL_VIOLATION),
                b"no client certificate",
            );
            return;
        };
        let Some(peer) = peer_identity(&chain, remote) else {
            connection.close(
                VarInt::from_u32(close_code::PROTOCOL_VIOLATION),
                b"not a node certificate",
            );
            return;
        };
        let span = tracing::info_span!("peer", region = %peer.region, node = %peer.name, %remote);
        let live = LiveConnection {
            connection: connection.clone(),
            peer: peer.clone(),
            chain,
            inbound: true,
        };
        let Some(id) = self
            .registry
            .admit(live, self.limits.max_connections_per_peer)
        else {
            span.in_scope(|| tracing::warn!("connection refused: peer at its connection limit"));
            connection.close(
                VarInt::from_u32(close_code::TOO_MANY_CONNECTIONS),
                b"too many connections from this node",
            );
            return;
        };
        async {
            tracing::info!("peer connected");
            let peer = Arc::new(peer);
            loop {
                let stream = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    s = connection.accept_bi() => s,
                };
                match stream {
                    Ok((send, recv)) => {
                        let this = self.clone();
                        let handler = Arc::clone(&handler);
                        let peer = Arc::clone(&peer);
                        tracker.spawn(
                            async move { this.serve_stream(send, recv, &peer, handler.as_ref()).await }
                                .in_current_span(),
                        );
                    }
                    Err(e) => {
                        tracing::info!(reason = %e, "peer disconnected");
                        break;
                    }
                }
            }
        }
        .instrument(span)
        .await;
        self.registry.remove(id);
    }

    async fn serve_stream<H: Handler>(
        &self,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        peer: &PeerIdentity,
        handler: &H,
    ) {
        let limit = self.limits.max_frame;
        let read = timeout(
            self.limits.request_timeout,
            self.read_request(&mut recv, peer),
        );
        let response = match read.await {
            Err(_) => Response::Error(ErrorReply::new(
                ErrorCode::Timeout,
                "request not received in time",
            )),
            Ok(Err(refusal)) => refusal,
            Ok(Ok((request, frame))) => {
                let span = tracing::debug_span!("request", kind = request.kind());
                let response = timeout(self.limits.request_timeout, handler.handle(peer, request))
                    .instrument(span)
                    .await
                    .unwrap_or_else(|_| {
                        Response::Error(ErrorReply::new(ErrorCode::Timeout, "request timed out"))
                    });
                // The frame's memory is given back once its request is handled.
                drop(frame);
                response
            }
        };
        if let Err(e) = write_frame(&mut send, &response, limit).await {
            tracing::debug!(error = %e, "could not send response");
        }
    }

    /// Read, meter and decode one request: the header is checked against
    /// the frame limit and the peer's quotas before anything else; the
    /// payload is buffered within the frame memory budget. Returns the
    /// request with its buffer (which holds the budget until dropped), or
    /// the refusal to send.
    async fn read_request(
        &self,
        recv: &mut quinn::RecvStream,
        peer: &PeerIdentity,
    ) -> Result<(Request, ingress::FrameBuffer), Response> {
        let limits = &self.ingress.limits;
        let refuse = |code, message: String| Response::Error(ErrorReply::new(code, message));
        let len = match read_header(
            recv,
            self.limits.max_frame,
            Some(limits.frame_stall_timeout),
        )
        .await
        {
            Ok(len) => len,
            Err(e) => return Err(self.unreadable(recv, e)),
        };
        let framed = len as u64 + FRAME_HEADER_LEN as u64;
        if let Err(t) = self
            .ingress
            .quotas
            .admit(peer.region, framed, Instant::now())
        {
            if let Some(refused) = t.warn {
                tracing::warn!(
                    quota = t.quota.name(),
                    refused,
                    "peer over its quota: requests refused before reading"
                );
            } else {
                tracing::debug!(
                    quota = t.quota.name(),
                    "request refused: peer over its quota"
                );
            }
            stop_reading(recv, stream_code::RATE_LIMITED);
            return Err(refuse(
                ErrorCode::RateLimited,
                format!(
                    "your region is over its {} quota at this node; retry in {} ms",
                    t.quota.name(),
                    t.retry_after.as_millis().max(1)
                ),
            ));
        }
        let budget = Budget {
            memory: &self.ingress.memory,
            region: peer.region,
            stall: limits.frame_stall_timeout,
        };
        let frame = match read_payload(recv, len, Some(budget)).await {
            Ok(frame) => frame,
            Err(e) => return Err(self.unreadable(recv, e)),
        };
        let request = match decode::<Request>(frame.bytes()) {
            Ok(request) => request,
            Err(e) => {
                tracing::info!(error = %e, "undecodable request");
                return Err(refuse(ErrorCode::MalformedRequest, e.to_string()));
            }
        };
        if let Err(e) = request.validate() {
            return Err(refuse(ErrorCode::InvalidField, e.to_string()));
        }
        Ok((request, frame))
    }

    /// The refusal for a frame that could not be read, after stopping the
    /// stream with the matching code.
    fn unreadable(&self, recv: &mut quinn::RecvStream, e: ReadFrameError) -> Response {
        let (code, stream) = match &e {
            ReadFrameError::Frame(FrameError::TooLarge { len, limit }) => {
                tracing::warn!(len, limit, "refused oversized request frame");
                (ErrorCode::FrameTooLarge, Some(stream_code::FRAME_TOO_LARGE))
            }
            // Counted in the metrics; one line per frame only when debugging.
            ReadFrameError::Stalled { .. } => {
                self.ingress.count_stalled();
                tracing::debug!(error = %e, "request frame abandoned");
                (ErrorCode::Timeout, Some(stream_code::FRAME_STALLED))
            }
            ReadFrameError::NoMemory(_) => {
                self.ingress.count_starved();
                tracing::debug!(error = %e, "request frame abandoned");
                (ErrorCode::Overloaded, Some(stream_code::NO_FRAME_MEMORY))
            }
            ReadFrameError::Frame(_) | ReadFrameError::Read(_) => {
                tracing::info!(error = %e, "unreadable request");
                (ErrorCode::MalformedRequest, None)
            }
        };
        if let Some(c) = stream {
            stop_reading(recv, c);
        }
        let message = match &e {
            ReadFrameError::Frame(FrameError::TooLarge { len, limit }) => {
                format!("request frame of {len} bytes exceeds the maximum of {limit}")
            }
            ReadFrameError::NoMemory(_) => {
                format!("{e}: the node's frame memory budget is in use; retry later")
            }
            _ => e.to_string(),
        };
        Response::Error(ErrorReply::new(code, message))
    }

    /// Dial a configured peer: handshake, then a `Hello` exchange that
    /// confirms the peer accepted this node's certificate.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        server_name: &str,
        region: RegionCode,
        name: Option<NodeName>,
    ) -> Result<PeerConnection, ClientError> {
        let tls =
            tls::client_config(&self.creds, self.trust.clone(), region, name).map_err(|e| {
                ClientError::Connect {
                    addr,
                    source: quinn::ConnectError::InvalidServerName(e.to_string()),
                }
            })?;
        let quic_tls = QuicClientConfig::try_from(tls).map_err(|e| ClientError::Connect {
            addr,
            source: quinn::ConnectError::InvalidServerName(e.to_string()),
        })?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic_tls));
        client.transport_config(Arc::clone(&self.transport_config));
        let connecting = self
            .endpoint
            .connect_with(client, addr, server_name)
            .map_err(|source| ClientError::Connect { addr, source })?;
        let connection = timeout(self.limits.handshake_timeout, connecting)
            .await
            .map_err(|_| ClientError::Timeout {
                what: "handshake",
                after_ms: self.limits.handshake_timeout.as_millis(),
            })?
            .map_err(|source| ClientError::Connection { addr, source })?;
        let chain = peer_chain(&connection).unwrap_or_default();
        let Some(peer) = peer_identity(&chain, addr) else {
            // The verifier only accepts node certificates; this cannot happen
            // unless the TLS layer is misconfigured.
            connection.close(
                VarInt::from_u32(close_code::PROTOCOL_VIOLATION),
                b"server is not a node",
            );
            return Err(ClientError::Unexpected {
                request: "handshake",
                response: "server is not a node".into(),
            });
        };
        let id = self
            .registry
            .admit(
                LiveConnection {
                    connection: connection.clone(),
                    peer: peer.clone(),
                    chain,
                    inbound: false,
                },
                u32::MAX,
            )
            .unwrap_or(u64::MAX);
        let conn = PeerConnection {
            connection,
            peer,
            limits: self.limits.clone(),
            registry: Arc::clone(&self.registry),
            registry_id: id,
            hello: None,
        };
        let hello = self.hello();
        conn.hello_exchange(hello).await
    }

    /// This node's `Hello`.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol_version: PROTOCOL_VERSION,
            region: self.region,
            node: self.name.clone(),
            capabilities: Vec::new(),
            software: concat!("credex/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Re-verify every live connection's peer certificate against the trust
    /// in force now and close those that fail. Returns how many were closed.
    pub fn recheck_connections(&self) -> usize {
        let now = UnixTime::now();
        let trust = self.trust.current();
        let mut closed = 0;
        let mut live = self.registry.lock();
        live.retain(|_, c| {
            let purpose = if c.inbound { Purpose::TlsClient } else { Purpose::TlsServer };
            let Some((leaf, rest)) = c.chain.split_first() else { return true };
            match trust.verify(leaf, rest, now, purpose) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(peer = %c.peer, error = %e, "closing connection: peer certificate no longer verifies");
                    c.connection.close(VarInt::from_u32(close_code::REVOKED), b"certificate revoked");
                    closed += 1;
                    false
                }
            }
        });
        closed
    }

    /// Close the endpoint at once, without waiting for peers to be told
    /// (a one-shot client endpoint whose answers are all in).
    pub fn close_now(&self) {
        self.endpoint.close(
            VarInt::from_u32(close_code::SHUTDOWN),
            b"node shutting down",
        );
    }

    /// Close the endpoint and wait until peers were told (bounded by the idle timeout).
    pub async fn close(&self) {
        self.endpoint.close(
            VarInt::from_u32(close_code::SHUTDOWN),
            b"node shutting down",
        );
        let _ = timeout(self.limits.idle_timeout, self.endpoint.wait_idle()).await;
    }
}

/// Tell the peer to stop sending on `recv`, with a [`stream_code`].
fn stop_reading(recv: &mut quinn::RecvStream, code: u32) {
    // Already stopped or finished: nothing left to refuse.
    let _ = recv.stop(VarInt::from_u32(code));
}

async fn write_frame(
    send: &mut quinn::SendStream,
    response: &Response,
    limit: FrameLimit,
) -> Result<(), ClientError> {
    let frame = match encode_frame(response, limit) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "response does not fit in a frame");
            encode_frame(
                &Response::Error(ErrorReply::new(ErrorCode::Internal, "response too large")),
                limit,
            )?
        }
    };
    send.write_all(&frame).await?;
    send.finish()?;
    Ok(())
}
