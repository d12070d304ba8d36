//! What a node answers its peers: `Hello`, `Ping`, queries, audit fetches
//! and witnessing ([`NodeHandler`]), the [`Handler`] the transport serves.

use std::sync::Arc;

use credex_protocol::{ErrorCode, ErrorReply, Hello, PROTOCOL_VERSION, Pong, Request, Response};
use tracing::Instrument;

use crate::query::QueryService;
use crate::storage::{PeerSighting, Storage};
use crate::tls::FederationTrust;
use crate::transport::{Handler, PeerIdentity};

/// Answers the base protocol: `Hello` and `Ping`.
pub struct NodeHandler {
    pub(super) hello: Hello,
    pub(super) storage: Storage,
    pub(super) log_key: Arc<crate::log::LogKey>,
    pub(super) checkpoints: crate::log::Checkpoints,
    pub(super) trust: FederationTrust,
    pub(super) region: credex_protocol::RegionCode,
    pub(super) max_skew_ms: i64,
    pub(super) chain_pem: String,
    pub(super) signing_chain_pem: Option<String>,
    pub(super) queries: Arc<QueryService>,
    pub(super) federation: crate::federation::Federation,
}

impl Handler for NodeHandler {
    async fn handle(&self, peer: &PeerIdentity, request: Request) -> Response {
        match request {
            Request::Hello(h) => self.hello(peer, &h).await,
            Request::Ping(p) => Response::Pong(Pong { nonce: p.nonce }),
            Request::Deliver(message) => {
                self.federation
                    .receive(peer, &message, self.storage.clock().now_ms())
                    .instrument(tracing::info_span!(
                        "deliver",
                        flow = %message.envelope.flow,
                        message_id = %hex::encode(message.envelope.message_id),
                    ))
                    .await
            }
            Request::AuditFetch(fetch) => self.audit_fetch(&fetch).await,
            Request::Witness(w) => self.witness(peer, &w).await,
            Request::WitnessedHead => self.witnessed_head(peer).await,
            Request::Query(q) => self.query(peer, &q).await,
        }
    }
}

impl NodeHandler {
    /// A peer's `Hello`: it must name the peer's certificate and speak this
    /// protocol version; the sighting is recorded.
    async fn hello(&self, peer: &PeerIdentity, h: &Hello) -> Response {
        if h.region != peer.region || h.node != peer.name {
            tracing::warn!(claimed_region = %h.region, claimed_node = %h.node, "hello disagrees with the peer certificate");
            return Response::Error(ErrorReply::new(
                ErrorCode::IdentityMismatch,
                format!(
                    "hello claims {}/{}, but your certificate is for {peer}",
                    h.region, h.node
                ),
            ));
        }
        if h.protocol_version != PROTOCOL_VERSION {
            return Response::Error(ErrorReply::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {} is not supported; this node speaks {PROTOCOL_VERSION}",
                    h.protocol_version
                ),
            ));
        }
        let sighting = PeerSighting {
            region: peer.region.to_string(),
            node: peer.name.to_string(),
            fingerprint: peer.fingerprint,
            protocol_version: h.protocol_version,
            capabilities: h.capabilities.iter().map(|c| format!("{c:?}")).collect(),
            seen_at_unix_ms: self.storage.clock().now_ms(),
        };
        if let Err(e) = self.storage.record_peer(&sighting).await {
            tracing::error!(error = %e, "could not record peer hello");
            return Response::Error(ErrorReply::new(ErrorCode::Internal, "storage unavailable"));
        }
        tracing::info!(software = %h.software, "hello");
        Response::Hello(self.hello.clone())
    }

    /// An auditor's signed fetch of this node's log: authorized, journaled,
    /// then served.
    async fn audit_fetch(&self, fetch: &credex_protocol::AuditFetch) -> Response {
        let now = self.storage.clock().now_ms();
        let auditor = match crate::remote_audit::authorize(
            fetch,
            &self.trust.current(),
            self.region,
            now,
            self.max_skew_ms,
        ) {
            Ok(a) => a,
            Err((code, message)) => {
                tracing::warn!(%message, "audit fetch refused");
                return Response::Error(ErrorReply::new(code, message));
            }
        };
        let entry = credex_journal::AuditAccess {
            version: credex_journal::ENTRY_VERSION,
            at_ms: now,
            auditor,
            path: fetch.request.path.clone(),
        };
        if let Err(e) = self.storage.append_entry(&entry).await {
            return Response::Error(ErrorReply::new(ErrorCode::Internal, e.to_string()));
        }
        let chains = crate::export::NodeChains {
            tls: &self.chain_pem,
            signing: self.signing_chain_pem.as_deref(),
        };
        match crate::remote_audit::serve(
            &self.storage,
            &self.checkpoints,
            chains,
            &fetch.request.path,
        )
        .await
        {
            Ok(bytes) => Response::AuditData(bytes),
            Err((code, message)) => Response::Error(ErrorReply::new(code, message)),
        }
    }

    /// A peer asks this node to witness (cosign) its newest checkpoint.
    async fn witness(&self, peer: &PeerIdentity, w: &credex_protocol::WitnessRequest) -> Response {
        let now_s = u64::try_from(self.storage.clock().now_ms() / 1000).unwrap_or(0);
        match crate::log::witness(&self.storage, &self.log_key, peer, w, now_s).await {
            Ok(line) => Response::Cosigned(line),
            Err(e) => {
                let code = match &e {
                    crate::log::WitnessRefusal::Fork(_) => ErrorCode::ForkDetected,
                    crate::log::WitnessRefusal::Stale { .. } => ErrorCode::StaleCheckpoint,
                    crate::log::WitnessRefusal::Invalid(_) => ErrorCode::InvalidField,
                    crate::log::WitnessRefusal::Storage(_) => ErrorCode::Internal,
                };
                tracing::warn!(error = %e, "refused to cosign");
                Response::Error(ErrorReply::new(code, e.to_string()))
            }
        }
    }

    /// A peer asks which checkpoint of its own log this node cosigned last.
    async fn witnessed_head(&self, peer: &PeerIdentity) -> Response {
        let origin = credex_protocol::tlog::credex_origin(peer.region, &peer.name);
        match self.storage.witnessed(&origin).await {
            Ok(seen) => Response::WitnessedHead(seen.map(|(_, note)| note)),
            Err(e) => Response::Error(ErrorReply::new(ErrorCode::Internal, e.to_string())),
        }
    }

    /// An authorized query, answered under this node's policy.
    async fn query(
        &self,
        peer: &PeerIdentity,
        q: &credex_protocol::query::AuthorizedQuery,
    ) -> Response {
        match self
            .queries
            .answer(peer, q)
            .instrument(tracing::info_span!(
                "query",
                request_id = %hex::encode(q.request.request_id),
                purpose = %q.request.purpose,
            ))
            .await
        {
            Ok(response) => Response::Query(Box::new(response)),
            Err(e) => {
                tracing::error!(error = %e, "query failed; nothing released");
                Response::Error(ErrorReply::new(
                    ErrorCode::Internal,
                    "the query could not be answered; nothing was released",
                ))
            }
        }
    }
}
