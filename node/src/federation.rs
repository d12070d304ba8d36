//! Federation messaging: signed, logged, exactly-once messages between
//! nodes, for the flows that are not queries — mutual recognition (互认),
//! joint reward/punishment lists (联合奖惩) and upward reports (数据报送).
//! The wire types are in [`credex_protocol::federation`]; decision 0500
//! explains the design.
//!
//! # Sending
//!
//! A flow builds its message with [`Federation::prepare`], which signs the
//! envelope with the node key and returns the [`StateWrite`] that puts it
//! in the durable **outbox**. The flow commits that write together with its
//! own journal entry (e.g. "listing initiated"), so a message exists if and
//! only if the event that caused it was logged, and survives restarts. The
//! delivery task sends each destination's messages in creation order,
//! retrying with backoff until the receiver answers with a signed
//! acknowledgement. It then verifies the acknowledgement and the
//! receiver's log receipt, asks the flow what the acknowledgement changes
//! ([`credex_flows::flow::Flow::acknowledged`]), and commits, in one transaction, a
//! [`kind::MESSAGE_SENT`] journal entry holding the receipt, the flow's
//! state writes and the removal of the message from the outbox.
//!
//! # Receiving
//!
//! [`Federation::receive`] checks the envelope against the connection's
//! verified peer (region and node), the receiving region and the sender's
//! signature, asks the flow what the message changes
//! ([`credex_flows::flow::Flow::receive`], against the stored state its
//! `reads` name), and commits a [`kind::MESSAGE_RECEIVED`]
//! entry claiming `(from_region, message_id)` as a nonce, together with
//! the flow's state writes. An applied message's signed envelope is the
//! entry's attachment; a message the flow refuses for good is logged
//! without it — the entry keeps the envelope's digest and size only
//! ([`ReceivedOutcome::RefusedDigestOnly`]), and its id is remembered for
//! [`REFUSED_ID_RETENTION_MS`] rather than ten years (decision 0650). The
//! transport's per-region quotas bound how many messages reach this point. A message delivered again (the sender did not get the first
//! acknowledgement) is logged as a duplicate, changes nothing, and is
//! answered with the first answer. Receives of one flow are serialised
//! (those of one sending region, for a flow that says so:
//! [`credex_flows::flow::Serial`]), so a flow decides against state no
//! concurrent message is changing.

use crate::ids::random_id;
use credex_flows::calendar::unix_time;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credex_pki::authorization::sign_node_statement;
use credex_pki::signing::SigningKey;
use credex_policies::egress::ReleasedBody;
use credex_protocol::federation::{
    DOMAIN_FEDERATION_MESSAGE, DeliveryStatus, Envelope, Flow, MAX_REASON, SignedEnvelope,
};
use credex_protocol::{NodeName, RegionCode, Request, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::log::Checkpoints;
use crate::storage::{AccessClaim, StateWrite, Storage, StorageError};
use credex_flows::outbox::{Attempts, Outbox, Queued};
use credex_journal::{
    CounterpartReceipt, ENTRY_VERSION, MAX_BEYOND_NAMED, MessageReceived, MessageSent,
    ReceivedOutcome, kind, sha256,
};

mod ack;
mod drive;
mod error;
mod peers;
mod receive;

pub use ack::verify_ack;
pub use drive::read_view;
pub use error::{AckRejected, DeliveryError};
pub use peers::PeerPool;
pub use receive::{beyond_release, fields_beyond_release};

/// State namespace of the outbox.
pub const OUTBOX_NS: &str = "fed.outbox";
/// State namespace of the answers given to received messages (replayed to
/// a duplicate).
pub const INBOX_NS: &str = "fed.inbox";

/// How often the delivery task looks at the outbox when nothing wakes it.
pub const DELIVERY_TICK: Duration = Duration::from_millis(250);
/// How long message ids are remembered as nonces: ten years. A message is
/// applied once however late a retry arrives.
pub const MESSAGE_ID_RETENTION_MS: i64 = 10 * 365 * 24 * 3600 * 1000;
/// How long the id of a message refused for good is remembered: 30 days.
/// Nothing was applied, and only its signer can deliver it again; a
/// sender's retries after a lost acknowledgement come within minutes.
pub const REFUSED_ID_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;
/// Most outbox messages read per delivery pass.
const OUTBOX_PAGE: u32 = 1024;

/// What receiving a message does, as decided by its flow (state writes,
/// records, follow-up messages, the reply and the journal summary).
pub use credex_flows::flow::Effect;

/// A flow as the federation drives it (see [`credex_flows::flow`]).
pub use credex_flows::flow::Flow as FederationFlow;

/// The envelope of a body the egress gate released, from node `from_node`
/// of `from_region`, created at `now_ms`, signed with the node key `key`
/// (whose chain is `chain`) and checked against the wire's bounds: what
/// [`Federation::prepare`] queues, and what a benchmark standing in for a
/// province sends (`credex bench intake`).
pub fn sign_envelope(
    body: ReleasedBody,
    from_region: RegionCode,
    from_node: NodeName,
    key: &SigningKey,
    chain: Vec<Vec<u8>>,
    now_ms: i64,
) -> Result<SignedEnvelope, PrepareError> {
    let to_region = body.recipient();
    let (flow, kind) = (body.flow(), body.kind());
    let (payload, egress) = body.into_parts();
    let envelope = Envelope {
        message_id: random_id(),
        flow,
        kind,
        from_region,
        from_node,
        to_region,
        created_at_ms: now_ms,
        payload,
        egress,
    };
    let bytes =
        credex_protocol::encode(&envelope).map_err(|e| PrepareError::Sign(e.to_string()))?;
    let sender = sign_node_statement(DOMAIN_FEDERATION_MESSAGE, &bytes, key, chain)
        .map_err(|e| PrepareError::Sign(e.to_string()))?;
    let signed = SignedEnvelope { envelope, sender };
    signed.validate()?;
    Ok(signed)
}

/// One message waiting in the outbox, as stored (the schedule's rules are
/// [`credex_flows::outbox`]'s).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OutboxItem {
    signed: SignedEnvelope,
    attempts: u32,
    next_attempt_ms: i64,
    last_error: String,
}

impl OutboxItem {
    fn attempts(&self) -> Attempts {
        Attempts {
            attempts: self.attempts,
            next_attempt_ms: self.next_attempt_ms,
            last_error: self.last_error.clone(),
        }
    }

    fn queued(&self, key: String) -> Queued<String> {
        let e = &self.signed.envelope;
        Queued {
            to: e.to_region,
            id: e.message_id,
            attempts: self.attempts(),
            message: key,
        }
    }
}

/// A message in the outbox, as [`Federation::outbox`] lists it.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    /// The destination region.
    pub to_region: RegionCode,
    /// The flow.
    pub flow: Flow,
    /// The kind within the flow.
    pub kind: u16,
    /// The message id.
    pub message_id: [u8; 16],
    /// When it was created, Unix ms.
    pub created_at_ms: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: String,
}

/// What a node needs to sign, log and deliver federation messages.
#[derive(Clone)]
pub struct FederationContext {
    /// The node's storage.
    pub storage: Storage,
    /// The node's checkpointer (receipts).
    pub checkpoints: Checkpoints,
    /// The node's region.
    pub region: RegionCode,
    /// The node's name.
    pub node: NodeName,
    /// The node key (signs envelopes and acknowledgements).
    pub node_key: Arc<SigningKey>,
    /// The node's certificate chain (DER, leaf first).
    pub chain: Vec<Vec<u8>>,
    /// The federation trust (verifies peers' signatures).
    pub trust: crate::tls::FederationTrust,
    /// Connections to peers.
    pub peers: PeerPool,
}

/// Federation messaging of one node: the flows, the outbox and its
/// delivery task. Cheap to clone.
#[derive(Clone)]
pub struct Federation {
    inner: Arc<Inner>,
    /// The node's parts; a fenced federation's storage differs
    /// ([`Federation::fenced`]).
    ctx: Arc<FederationContext>,
}

/// One lock per flow, or per flow and sending region
/// ([`credex_flows::flow::Serial`]): a few dozen at most.
type ReceiveLocks = HashMap<(Flow, Option<RegionCode>), Arc<tokio::sync::Mutex<()>>>;

struct Inner {
    flows: Mutex<HashMap<Flow, Arc<dyn FederationFlow>>>,
    receive_locks: Mutex<ReceiveLocks>,
    wake: Notify,
    busy: Mutex<HashSet<RegionCode>>,
}

/// A region told, with the id of the message that told it.
pub type SentTo = (RegionCode, [u8; 16]);

/// Why a message could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The payload could not be encoded or signed.
    #[error("cannot sign the message: {0}")]
    Sign(String),
    /// The message is too large.
    #[error("{0}")]
    Bounds(#[from] credex_protocol::federation::FederationBoundError),
    /// No peer of the destination region is configured.
    #[error("no peer of region {0} is configured")]
    UnknownPeer(RegionCode),
}

impl Federation {
    /// Messaging over `ctx`, with no flow registered yet.
    pub fn new(ctx: FederationContext) -> Federation {
        Federation {
            ctx: Arc::new(ctx),
            inner: Arc::new(Inner {
                flows: Mutex::default(),
                receive_locks: Mutex::default(),
                wake: Notify::new(),
                busy: Mutex::default(),
            }),
        }
    }

    /// This federation with its writes (journal entries, outbox and flow
    /// state) fenced by the region's duties lease (decision 1020): for the
    /// tasks of the process holding the duties, whose writes must fail once
    /// another process took them. Shares the flows, the delivery wake-up
    /// and the regions in delivery with `self`.
    pub fn fenced(&self, fence: crate::storage::Fence) -> Federation {
        let mut ctx = (*self.ctx).clone();
        ctx.storage = ctx.storage.fenced(fence);
        Federation {
            inner: Arc::clone(&self.inner),
            ctx: Arc::new(ctx),
        }
    }

    /// Register `flow` (replacing any earlier flow of its name).
    pub fn register(&self, flow: Arc<dyn FederationFlow>) {
        self.flows().insert(flow.name(), flow);
    }

    fn flows(&self) -> std::sync::MutexGuard<'_, HashMap<Flow, Arc<dyn FederationFlow>>> {
        // A panic while holding this lock can only happen in `insert` or
        // `get`, which leave the map consistent: recover the guard.
        self.inner
            .flows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn flow(&self, flow: Flow) -> Option<Arc<dyn FederationFlow>> {
        self.flows().get(&flow).cloned()
    }

    /// The context (storage, identity, peers).
    pub fn context(&self) -> &FederationContext {
        &self.ctx
    }

    /// Now by the node's clock (the one its store was opened with).
    pub fn now_ms(&self) -> i64 {
        self.ctx.storage.clock().now_ms()
    }

    /// Sign a body the egress gate released ([`ReleasedBody`]: nothing
    /// else can be sent) for its recipient and return it with the state
    /// write that queues it in the outbox. Commit the write with the
    /// journal entry of the event that causes the message (or alone with
    /// [`Storage::write_state`]), then call [`Federation::wake`].
    pub fn prepare(
        &self,
        body: ReleasedBody,
        now_ms: i64,
    ) -> Result<(SignedEnvelope, StateWrite), PrepareError> {
        let ctx = &self.ctx;
        let to_region = body.recipient();
        if !ctx.peers.knows(to_region) {
            return Err(PrepareError::UnknownPeer(to_region));
        }
        let signed = sign_envelope(
            body,
            ctx.region,
            ctx.node.clone(),
            &ctx.node_key,
            ctx.chain.clone(),
            now_ms,
        )?;
        let item = OutboxItem {
            signed: signed.clone(),
            attempts: 0,
            next_attempt_ms: 0,
            last_error: String::new(),
        };
        let value =
            credex_protocol::encode(&item).map_err(|e| PrepareError::Sign(e.to_string()))?;
        let write = StateWrite::put(OUTBOX_NS, outbox_key(&signed.envelope), value);
        Ok((signed, write))
    }

    /// [`Federation::prepare`] each of `bodies`: the outbox writes to
    /// commit, and each recipient with its message id (for the journal
    /// entry that names who was told).
    pub fn prepare_all(
        &self,
        bodies: impl IntoIterator<Item = ReleasedBody>,
        now_ms: i64,
    ) -> Result<(Vec<StateWrite>, Vec<SentTo>), PrepareError> {
        let mut writes = Vec::new();
        let mut sent_to = Vec::new();
        for body in bodies {
            let to = body.recipient();
            let (signed, outbox) = self.prepare(body, now_ms)?;
            writes.push(outbox);
            sent_to.push((to, signed.envelope.message_id));
        }
        Ok((writes, sent_to))
    }

    /// Wake the delivery task (after committing outbox writes).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The messages still to deliver, oldest first per region (at most
    /// 4,096).
    pub async fn outbox(&self) -> Result<Vec<PendingMessage>, StorageError> {
        Ok(self
            .outbox_items(None)
            .await?
            .into_iter()
            .map(|(_, item)| {
                let e = &item.signed.envelope;
                PendingMessage {
                    to_region: e.to_region,
                    flow: e.flow,
                    kind: e.kind,
                    message_id: e.message_id,
                    created_at_ms: e.created_at_ms,
                    attempts: item.attempts,
                    last_error: item.last_error,
                }
            })
            .collect())
    }

    /// The payloads of the messages waiting for `to_region`, with their
    /// flow and kind (what the upward watch reads its batches from).
    pub async fn pending_payloads(
        &self,
        to_region: RegionCode,
    ) -> Result<Vec<(credex_protocol::federation::Flow, u16, Vec<u8>)>, StorageError> {
        pending_payloads_in(&self.ctx.storage, to_region).await
    }

    /// How many messages for `to_region` wait in the outbox (for
    /// backpressure: a flow stops producing while this is high).
    pub async fn pending_for(&self, to_region: RegionCode) -> Result<usize, StorageError> {
        Ok(self.outbox_items(Some(to_region)).await?.len())
    }

    async fn outbox_items(
        &self,
        region: Option<RegionCode>,
    ) -> Result<Vec<(String, OutboxItem)>, StorageError> {
        outbox_items(&self.ctx.storage, region).await
    }

    /// Run the delivery task until `shutdown`.
    pub fn spawn_delivery(&self, tracker: &TaskTracker, shutdown: CancellationToken) {
        let this = self.clone();
        let tasks = tracker.clone();
        tracker.spawn(async move {
            loop {
                this.deliver_due(&tasks, &shutdown).await;
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = this.inner.wake.notified() => {}
                    _ = tokio::time::sleep(DELIVERY_TICK) => {}
                }
            }
        });
    }

    /// Start a delivery run for every region that has a message due and
    /// no run in progress.
    async fn deliver_due(&self, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let items = match self.outbox_items(None).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                return;
            }
        };
        let now = self.now_ms();
        // The regions with a run in progress are the ones in flight: each
        // run delivers its region's messages one at a time, in order.
        let busy: Vec<RegionCode> = self
            .inner
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        let mut outbox =
            Outbox::from_queued(items.into_iter().map(|(key, item)| item.queued(key)), busy);
        while let Some(transmit) = outbox.poll_transmit(now) {
            let region = transmit.to;
            {
                let mut busy = self
                    .inner
                    .busy
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !busy.insert(region) {
                    continue;
                }
            }
            let this = self.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = this.deliver_region(region) => {}
                }
                this.inner
                    .busy
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&region);
            });
        }
    }

    /// Deliver `region`'s messages in order until one fails or none is due.
    async fn deliver_region(&self, region: RegionCode) {
        loop {
            let items = match self.outbox_items(Some(region)).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(%region, error = %e, "cannot read the outbox");
                    return;
                }
            };
            let Some((key, item)) = items.into_iter().next() else {
                return;
            };
            if !item.attempts().is_due(self.now_ms()) {
                return;
            }
            match self.deliver_one(&key, &item).await {
                Ok(()) => continue,
                Err(error) => {
                    let next = item
                        .attempts()
                        .failed(self.now_ms(), truncate(error.to_string(), MAX_REASON));
                    tracing::debug!(%region, attempts = next.attempts, error = %next.last_error, "delivery failed; will retry");
                    let retry = OutboxItem {
                        attempts: next.attempts,
                        next_attempt_ms: next.next_attempt_ms,
                        last_error: next.last_error,
                        ..item
                    };
                    if let Ok(value) = credex_protocol::encode(&retry) {
                        // Only bookkeeping: if this write fails the item is
                        // retried sooner, nothing is lost.
                        let _ = self
                            .ctx
                            .storage
                            .write_state(vec![StateWrite::put(OUTBOX_NS, key, value)])
                            .await;
                    }
                    return;
                }
            }
        }
    }

    async fn deliver_one(&self, key: &str, item: &OutboxItem) -> Result<(), DeliveryError> {
        let ctx = &self.ctx;
        let e = &item.signed.envelope;
        let request = Request::Deliver(Box::new(item.signed.clone()));
        let response = ctx.peers.request(e.to_region, &request).await?;
        let signed_ack = match response {
            Response::Delivered(ack) => ack,
            Response::Error(err) => {
                return Err(DeliveryError::Refused {
                    region: e.to_region,
                    code: err.code,
                    message: err.message,
                });
            }
            other => {
                return Err(DeliveryError::UnexpectedAnswer {
                    region: e.to_region,
                    answer: answer_kind(&other).to_owned(),
                });
            }
        };
        let now = self.now_ms();
        let counterpart = verify_ack(&item.signed, &signed_ack, &ctx.trust.current(), now)?;
        let handler = self.flow(e.flow).ok_or(DeliveryError::NoFlow(e.flow))?;
        let mut state = self
            .flow_acknowledged(&*handler, e, &signed_ack.ack, now)
            .await
            .map_err(|reason| DeliveryError::Flow {
                flow: e.flow,
                reason,
            })?;
        state.push(StateWrite::delete(OUTBOX_NS, key));
        let ack_bytes = credex_protocol::encode(&*signed_ack)?;
        let ack_digest = sha256(&ack_bytes);
        let envelope_bytes = credex_protocol::encode(&item.signed)?;
        let entry = MessageSent {
            version: ENTRY_VERSION,
            at_ms: now,
            message_digest: sha256(&envelope_bytes),
            message_id: e.message_id,
            flow: e.flow,
            message_kind: e.kind,
            to_region: e.to_region,
            to_node: signed_ack.ack.receiver_node.clone(),
            status: signed_ack.ack.status.clone(),
            ack_digest,
            counterpart,
            attempts: item.attempts + 1,
            egress: e.egress.clone(),
        };
        // The acknowledgement is kept as the attachment of the sent entry:
        // a claimed append with the message id as nonce (in this node's own
        // region) also makes a second acknowledgement of the same message
        // a no-op.
        let claim = AccessClaim {
            requester_region: ctx.region.to_string(),
            nonce: e.message_id,
            nonce_expires_at_unix_ms: now.saturating_add(MESSAGE_ID_RETENTION_MS),
            authorization_use: None,
            quota: None,
        };
        let encoded =
            credex_journal::encode(&entry).map_err(|e| DeliveryError::Encode(e.to_string()))?;
        let body = encoded.body;
        ctx.storage
            .append_claimed_with_state(
                encoded.kind,
                claim,
                // The receiver's chain, stored once (decision 1180).
                Some(
                    crate::storage::Attachment::new(ack_digest, ack_bytes)
                        .sharing(signed_ack.receiver.chain.iter().map(Vec::as_slice)),
                ),
                state,
                move |_| body,
            )
            .await?;
        if let DeliveryStatus::Refused { reason } = &signed_ack.ack.status {
            tracing::warn!(to = %e.to_region, flow = %e.flow, %reason, "message refused by the receiver");
        }
        Ok(())
    }
}

/// A handle on a [`Federation`] that does not keep it alive, for flow
/// handlers that send follow-up messages: a handler holding a `Federation`
/// would form a cycle (federation → handler → federation) and keep the
/// node's storage and endpoint alive after shutdown.
#[derive(Clone)]
pub struct WeakFederation(std::sync::Weak<Inner>, std::sync::Weak<FederationContext>);

impl WeakFederation {
    /// The federation, unless the node has shut down.
    pub fn upgrade(&self) -> Option<Federation> {
        Some(Federation {
            inner: self.0.upgrade()?,
            ctx: self.1.upgrade()?,
        })
    }
}

impl Federation {
    /// A handle that does not keep this federation alive.
    pub fn downgrade(&self) -> WeakFederation {
        WeakFederation(Arc::downgrade(&self.inner), Arc::downgrade(&self.ctx))
    }
}

/// The kind of an answer, for an error that names it (never its content).
fn answer_kind(response: &Response) -> &'static str {
    match response {
        Response::Hello(_) => "hello",
        Response::Pong(_) => "pong",
        Response::Error(_) => "an error",
        Response::Query(_) => "a query response",
        Response::Cosigned(_) => "a cosignature",
        Response::AuditData(_) => "audit data",
        Response::Delivered(_) => "an acknowledgement",
        Response::WitnessedHead(_) => "a witnessed head",
    }
}

fn outbox_key(e: &Envelope) -> String {
    format!(
        "{}/{:020}/{}",
        e.to_region,
        e.created_at_ms.max(0),
        hex::encode(e.message_id)
    )
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The payloads of the messages in `storage`'s outbox for `to_region`,
/// with their flow and kind ([`Federation::pending_payloads`], for readers
/// that hold only the store, such as `credex upward status`).
pub(crate) async fn pending_payloads_in(
    storage: &Storage,
    to_region: RegionCode,
) -> Result<Vec<(credex_protocol::federation::Flow, u16, Vec<u8>)>, StorageError> {
    Ok(outbox_items(storage, Some(to_region))
        .await?
        .into_iter()
        .map(|(_, item)| {
            let e = item.signed.envelope;
            (e.flow, e.kind, e.payload)
        })
        .collect())
}

/// The outbox's items in `storage` (for `region`, or all), the first
/// [`OUTBOX_PAGE`]; an unreadable one is logged and skipped.
async fn outbox_items(
    storage: &Storage,
    region: Option<RegionCode>,
) -> Result<Vec<(String, OutboxItem)>, StorageError> {
    let prefix = region.map(|r| format!("{r}/")).unwrap_or_default();
    let rows = storage
        .state_scan(OUTBOX_NS, &prefix, None, OUTBOX_PAGE)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, value)| match credex_protocol::decode(&value) {
            Ok(item) => Some((key, item)),
            Err(e) => {
                tracing::error!(%key, error = %e, "unreadable outbox item skipped");
                None
            }
        })
        .collect())
}
