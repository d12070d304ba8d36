//! The dialling side of a connection: [`PeerConnection`], one request per
//! stream, and the errors a requester sees ([`ClientError`]).

use std::net::SocketAddr;
use std::sync::Arc;

use credex_protocol::query::AuthorizedQuery;
use credex_protocol::{
    ErrorReply, FrameError, Hello, QueryRequestRef, Request, Response, decode, encode_frame,
};
use quinn::VarInt;
use tokio::time::timeout;

use super::frame::{ReadFrameError, read_frame};
use super::{PeerIdentity, Registry, close_code};
use crate::config::TransportLimits;

/// Errors a requester sees when talking to a peer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No dial to any of a peer's processes ended (each dial task ended
    /// abnormally).
    #[error("no process of {peer} could be dialled")]
    Unreachable {
        /// `region/name`.
        peer: String,
    },
    /// The connection could not be started (bad address, endpoint closing).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectError,
    },
    /// The connection failed or was closed; a refused certificate on either
    /// side shows here (for a refused client, on the first request).
    #[error("connection to {addr} failed: {source}")]
    Connection {
        /// The address dialled.
        addr: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectionError,
    },
    /// The peer did not answer in time.
    #[error("{what} timed out after {after_ms} ms")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// The timeout.
        after_ms: u128,
    },
    /// Writing the request failed.
    #[error("sending request: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading the response failed.
    #[error("reading response: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// The response stream was reset or closed early.
    #[error("reading response: {0}")]
    ReadToEnd(#[from] quinn::ReadToEndError),
    /// The stream was closed before the request was sent.
    #[error("stream closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    /// The response frame was too large or malformed.
    #[error("response from peer: {0}")]
    Frame(#[from] FrameError),
    /// The response decoded but breaks a field bound.
    #[error("response from peer: {0}")]
    Invalid(#[from] credex_protocol::messages::ValidationError),
    /// The peer answered with an error.
    #[error("peer refused: {} — {}", .0.code, .0.message)]
    Refused(ErrorReply),
    /// The peer answered with a response of the wrong kind.
    #[error("unexpected response to {request}: {response}")]
    Unexpected {
        /// The request kind.
        request: &'static str,
        /// What came back.
        response: String,
    },
    /// The peer's `Hello` disagrees with its certificate.
    #[error("peer's hello claims {claimed} but its certificate is {certified}")]
    HelloMismatch {
        /// What the Hello said.
        claimed: String,
        /// What the certificate binds.
        certified: String,
    },
}

/// An established, mutually authenticated connection to a peer node.
pub struct PeerConnection {
    pub(super) connection: quinn::Connection,
    pub(super) peer: PeerIdentity,
    pub(super) limits: TransportLimits,
    pub(super) registry: Arc<Registry>,
    pub(super) registry_id: u64,
    pub(super) hello: Option<Hello>,
}

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("peer", &self.peer)
            .finish()
    }
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.registry.remove(self.registry_id);
    }
}

impl PeerConnection {
    /// The peer's certified identity.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The peer's `Hello`, received when the connection was set up.
    pub fn peer_hello(&self) -> Option<&Hello> {
        self.hello.as_ref()
    }

    /// The certificate chain the peer presented (leaf first), as verified
    /// at the handshake.
    pub fn certificate_chain(&self) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        self.connection
            .peer_identity()
            .and_then(|id| {
                id.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>()
                    .ok()
            })
            .map(|chain| *chain)
            .unwrap_or_default()
    }

    /// The underlying QUIC connection (for tests and diagnostics).
    pub fn quic(&self) -> &quinn::Connection {
        &self.connection
    }

    pub(super) async fn hello_exchange(
        mut self,
        hello: Hello,
    ) -> Result<PeerConnection, ClientError> {
        match self.request(&Request::Hello(hello)).await? {
            Response::Hello(theirs) => {
                if theirs.region != self.peer.region || theirs.node != self.peer.name {
                    return Err(ClientError::HelloMismatch {
                        claimed: format!("{}/{}", theirs.region, theirs.node),
                        certified: self.peer.to_string(),
                    });
                }
                self.hello = Some(theirs);
                Ok(self)
            }
            other => Err(unexpected("hello", &other)),
        }
    }

    /// Send one request on a new stream and wait for its response.
    ///
    /// Cancel-safe: dropping the future resets the stream; the connection
    /// stays usable.
    pub async fn request(&self, request: &Request) -> Result<Response, ClientError> {
        self.exchange(request).await
    }

    /// [`Self::request`] of a [`Request::Query`] the caller keeps: the
    /// query is encoded where it lies, not cloned into a request.
    ///
    /// Cancel-safe, as [`Self::request`].
    pub async fn query(&self, query: &AuthorizedQuery) -> Result<Response, ClientError> {
        self.exchange(&QueryRequestRef(query)).await
    }

    /// Send `request` (the encoding of a [`Request`]) on a new stream and
    /// wait for its response.
    async fn exchange<R: serde::Serialize + ?Sized>(
        &self,
        request: &R,
    ) -> Result<Response, ClientError> {
        let limit = self.limits.max_frame;
        let exchange = async {
            let (mut send, mut recv) =
                self.connection
                    .open_bi()
                    .await
                    .map_err(|source| ClientError::Connection {
                        addr: self.peer.addr,
                        source,
                    })?;
            let frame = encode_frame(request, limit)?;
            send.write_all(&frame).await?;
            send.finish()?;
            let payload = read_frame(&mut recv, limit).await.map_err(|e| match e {
                ReadFrameError::Read(quinn::ReadExactError::ReadError(
                    quinn::ReadError::ConnectionLost(source),
                )) => ClientError::Connection {
                    addr: self.peer.addr,
                    source,
                },
                ReadFrameError::Read(e) => ClientError::Read(e),
                ReadFrameError::Frame(e) => ClientError::Frame(e),
                // Responses are read without a stall timeout or a budget.
                ReadFrameError::Stalled { .. } | ReadFrameError::NoMemory(_) => {
                    ClientError::Timeout {
                        what: "response",
                        after_ms: self.limits.request_timeout.as_millis(),
                    }
                }
            })?;
            let response: Response = decode(&payload)?;
            response.validate()?;
            Ok(response)
        };
        match timeout(self.limits.request_timeout, exchange).await {
            Ok(Ok(Response::Error(reply))) => Err(ClientError::Refused(reply)),
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                what: "request",
                after_ms: self.limits.request_timeout.as_millis(),
            }),
        }
    }

    /// Round-trip a ping.
    pub async fn ping(&self, nonce: u64) -> Result<(), ClientError> {
        match self
            .request(&Request::Ping(credex_protocol::Ping { nonce }))
            .await?
        {
            Response::Pong(p) if p.nonce == nonce => Ok(()),
            other => Err(unexpected("ping", &other)),
        }
    }

    /// Close the connection.
    pub fn close(&self) {
        self.connection
            .close(VarInt::from_u32(close_code::SHUTDOWN), b"done");
    }

    /// Wait until the connection is closed, by either side; returns why.
    pub async fn closed(&self) -> quinn::ConnectionError {
        self.connection.closed().await
    }
}

fn unexpected(request: &'static str, response: &Response) -> ClientError {
    ClientError::Unexpected {
        request,
        response: format!("{response:?}").chars().take(200).collect(),
    }
}
