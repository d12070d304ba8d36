//! Receiving a federation message (see [`super`], "Receiving"): the
//! checks against the connection's peer, the signature and the egress
//! record, the flow's decision, and the journal entry.

use credex_pki::authorization::{sign_node_statement, verify_node_statement};
use credex_policies::egress::beyond_record;
use credex_protocol::federation::{
    DOMAIN_FEDERATION_ACK, DOMAIN_FEDERATION_MESSAGE, DeliveryAck, DeliveryStatus, Envelope,
    MAX_REASON, SignedDeliveryAck, SignedEnvelope,
};
use credex_protocol::{ErrorCode, ErrorReply, Response};

use super::{Effect, FederationFlow};
use super::{
    Federation, INBOX_NS, MAX_BEYOND_NAMED, MESSAGE_ID_RETENTION_MS, MessageReceived,
    REFUSED_ID_RETENTION_MS, ReceivedOutcome, kind, truncate, unix_time,
};
use crate::storage::{AccessClaim, ClaimOutcome, StateWrite};
use crate::transport::PeerIdentity;
use credex_flows::flow::{Refusal, Refused, Serial};
use credex_flows::inbox::{InboxAnswer, duplicate_answer};
use credex_journal::{ENTRY_VERSION, sha256};

impl Federation {
    /// Answer a [`Request::Deliver`] from `peer`.
    pub async fn receive(
        &self,
        peer: &PeerIdentity,
        signed: &SignedEnvelope,
        now_ms: i64,
    ) -> Response {
        match self.receive_inner(peer, signed, now_ms).await {
            Ok(ack) => Response::Delivered(Box::new(ack)),
            Err((code, message)) => {
                tracing::warn!(%peer, %message, "federation message not accepted");
                Response::Error(ErrorReply::new(code, message))
            }
        }
    }

    async fn receive_inner(
        &self,
        peer: &PeerIdentity,
        signed: &SignedEnvelope,
        now_ms: i64,
    ) -> Result<SignedDeliveryAck, Rejection> {
        let e = &signed.envelope;
        self.check_sender(peer, signed, now_ms)?;
        let Some(handler) = self.flow(e.flow) else {
            return Err((
                ErrorCode::UnsupportedMessage,
                format!("this node does not take part in the {} flow", e.flow),
            ));
        };
        let serial = self.receive_lock(&*handler, e).lock_owned().await;
        let beyond = fields_beyond_release(e);
        let received = match beyond_reason(&beyond) {
            Some(reason) => Err(Refused::BeyondRelease(reason).into()),
            None => self.flow_receive(&*handler, peer, e, now_ms).await,
        };
        let mut decided = self.decided(received, beyond, now_ms)?;
        let (seq, first, digest) = self.journal_received(signed, &mut decided, now_ms).await?;
        let (status, reply) = match first {
            true => (decided.answer.status, decided.answer.reply),
            false => self.first_answer(e).await,
        };
        drop(serial);
        if first && decided.sends > 0 {
            self.wake();
        }
        self.acknowledge(signed, digest, seq, status, reply).await
    }

    /// The lock that takes in `e` one at a time with the messages its flow
    /// must not decide on concurrently.
    fn receive_lock(
        &self,
        flow: &dyn FederationFlow,
        e: &Envelope,
    ) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let sender = match flow.serial() {
            Serial::Flow => None,
            Serial::PerSender => Some(e.from_region),
        };
        let mut locks = self
            .inner
            .receive_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::sync::Arc::clone(locks.entry((e.flow, sender)).or_default())
    }

    /// The envelope comes from the connection's peer, to this region, and
    /// is signed by its sender.
    fn check_sender(
        &self,
        peer: &PeerIdentity,
        signed: &SignedEnvelope,
        now_ms: i64,
    ) -> Result<(), Rejection> {
        let ctx = &self.ctx;
        let e = &signed.envelope;
        if e.from_region != peer.region || e.from_node != peer.name {
            return Err((
                ErrorCode::IdentityMismatch,
                format!(
                    "the message claims to come from {}/{}, but the connection is from {peer}",
                    e.from_region, e.from_node
                ),
            ));
        }
        if e.to_region != ctx.region {
            return Err((
                ErrorCode::InvalidField,
                format!(
                    "the message is addressed to region {}, this node is of {}",
                    e.to_region, ctx.region
                ),
            ));
        }
        let bytes = credex_protocol::encode(e).map_err(|err| {
            (
                ErrorCode::InvalidField,
                format!("unencodable envelope: {err}"),
            )
        })?;
        let (_, region, node) = verify_node_statement(
            DOMAIN_FEDERATION_MESSAGE,
            &bytes,
            &signed.sender,
            &ctx.trust.current(),
            unix_time(now_ms),
            Some(peer.region),
        )
        .map_err(|err| {
            (
                ErrorCode::NotAuthorized,
                format!("the message signature: {err}"),
            )
        })?;
        if node != e.from_node || region != e.from_region {
            return Err((
                ErrorCode::IdentityMismatch,
                format!("the message is signed by {region}/{node}, not by its sender"),
            ));
        }
        Ok(())
    }

    /// What the flow's answer commits: an applied effect's records (stored
    /// with its journal entry, decision 1050), state and follow-up
    /// messages queued; a refusal for good answered and logged without
    /// state; a transient refusal not logged at all.
    fn decided(
        &self,
        received: Result<Effect, Refusal>,
        beyond: Vec<String>,
        now_ms: i64,
    ) -> Result<Decided, Rejection> {
        match received {
            Ok(effect) => {
                let mut state = effect.state;
                let sends = effect.send.len();
                for body in effect.send {
                    let (_, outbox) = self
                        .prepare(body, now_ms)
                        .map_err(|err| internal("cannot queue the follow-up message", err))?;
                    state.push(outbox);
                }
                Ok(Decided {
                    answer: InboxAnswer {
                        status: DeliveryStatus::Applied,
                        reply: effect.reply,
                    },
                    summary: effect.summary,
                    state,
                    records: effect.records,
                    sends,
                    beyond,
                })
            }
            Err(Refusal::Permanent(refused)) => {
                // The stable code leads the reason the sender and the
                // journal see.
                let reason = truncate(format!("{}: {refused}", refused.code()), MAX_REASON);
                Ok(Decided {
                    summary: format!("refused: {reason}"),
                    answer: InboxAnswer {
                        status: DeliveryStatus::Refused { reason },
                        reply: Vec::new(),
                    },
                    state: Vec::new(),
                    records: Vec::new(),
                    sends: 0,
                    beyond,
                })
            }
            Err(Refusal::Transient(reason)) => {
                Err((ErrorCode::Internal, format!("try again later: {reason}")))
            }
        }
    }

    /// Journal the message as received — claiming `(from_region,
    /// message_id)` as a nonce, with the flow's records and state writes
    /// and the answer kept for duplicates — and return the entry's index,
    /// whether this was its first delivery, and the digest of the message
    /// as received. A duplicate is journaled as such and changes nothing.
    async fn journal_received(
        &self,
        signed: &SignedEnvelope,
        decided: &mut Decided,
        now_ms: i64,
    ) -> Result<(u64, bool, [u8; 32]), Rejection> {
        let e = &signed.envelope;
        let mut state = std::mem::take(&mut decided.state);
        state.push(
            StateWrite::encoded(INBOX_NS, inbox_key(e), &decided.answer)
                .map_err(|err| internal("cannot encode the answer", err))?,
        );
        let envelope_bytes =
            credex_protocol::encode(signed).map_err(|err| internal("cannot encode", err))?;
        let message_digest = sha256(&envelope_bytes);
        let envelope_len = u32::try_from(envelope_bytes.len()).unwrap_or(u32::MAX);
        let refused = matches!(decided.answer.status, DeliveryStatus::Refused { .. });
        let claim = AccessClaim {
            requester_region: e.from_region.to_string(),
            nonce: e.message_id,
            nonce_expires_at_unix_ms: now_ms.saturating_add(if refused {
                REFUSED_ID_RETENTION_MS
            } else {
                MESSAGE_ID_RETENTION_MS
            }),
            authorization_use: None,
            quota: None,
        };
        // A refused message is logged by digest and size: its bytes are
        // not kept (decision 0650). The sender's certificate chain is
        // stored once for all its messages (decision 1180).
        let attachment = (!refused).then(|| {
            crate::storage::Attachment::new(message_digest, envelope_bytes)
                .sharing(signed.sender.chain.iter().map(Vec::as_slice))
        });
        let entry = MessageReceived {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            message_digest,
            message_id: e.message_id,
            flow: e.flow,
            message_kind: e.kind,
            from_region: e.from_region,
            from_node: e.from_node.clone(),
            outcome: match &decided.answer.status {
                DeliveryStatus::Refused { reason } => ReceivedOutcome::RefusedDigestOnly {
                    reason: reason.clone(),
                    envelope_len,
                    beyond_release: decided
                        .beyond
                        .iter()
                        .take(MAX_BEYOND_NAMED)
                        .map(|f| truncate(f.clone(), MAX_BEYOND_NAME))
                        .collect(),
                },
                _ => ReceivedOutcome::Applied,
            },
            summary: truncate(decided.summary.clone(), MAX_REASON),
        };
        // Both possible bodies are encoded before the claim, so the one the
        // claim's outcome picks is never an empty entry.
        let duplicate = MessageReceived {
            outcome: ReceivedOutcome::Duplicate,
            summary: "duplicate delivery; nothing changed".into(),
            ..entry.clone()
        };
        let applied = credex_journal::encode(&entry)
            .map_err(|err| internal("cannot log", err))?
            .body;
        let duplicate = credex_journal::encode(&duplicate)
            .map_err(|err| internal("cannot log", err))?
            .body;
        let records = std::mem::take(&mut decided.records);
        let (seq, outcome) = self
            .ctx
            .storage
            .append_claimed_with_records(
                kind::MESSAGE_RECEIVED,
                claim,
                attachment,
                state,
                records,
                move |outcome| {
                    if outcome == ClaimOutcome::Replay {
                        duplicate
                    } else {
                        applied
                    }
                },
            )
            .await
            .map_err(|err| internal("cannot log the message", err))?;
        Ok((seq, outcome != ClaimOutcome::Replay, message_digest))
    }

    /// The answer given when `e` was first delivered (replayed to a
    /// duplicate).
    async fn first_answer(&self, e: &Envelope) -> (DeliveryStatus, Vec<u8>) {
        let first = self
            .ctx
            .storage
            .state(INBOX_NS, &inbox_key(e))
            .await
            .ok()
            .flatten()
            .and_then(|v| credex_protocol::decode::<InboxAnswer>(&v).ok());
        let answer = duplicate_answer(first);
        (answer.status, answer.reply)
    }

    /// The signed acknowledgement of `signed` (whose encoding's digest is
    /// `message_digest`), with the receipt of entry `seq`.
    async fn acknowledge(
        &self,
        signed: &SignedEnvelope,
        message_digest: [u8; 32],
        seq: u64,
        status: DeliveryStatus,
        reply: Vec<u8>,
    ) -> Result<SignedDeliveryAck, Rejection> {
        let ctx = &self.ctx;
        let e = &signed.envelope;
        let receipt = crate::log::receipt(&ctx.storage, &ctx.checkpoints, seq)
            .await
            .map_err(|err| internal("no receipt", err))?;
        let ack = DeliveryAck {
            message_digest,
            message_id: e.message_id,
            receiver_region: ctx.region,
            receiver_node: ctx.node.clone(),
            status,
            reply,
        };
        let ack_bytes =
            credex_protocol::encode(&ack).map_err(|err| internal("cannot encode", err))?;
        let receiver = sign_node_statement(
            DOMAIN_FEDERATION_ACK,
            &ack_bytes,
            &ctx.node_key,
            ctx.chain.clone(),
        )
        .map_err(|err| internal("cannot sign", err))?;
        Ok(SignedDeliveryAck {
            ack,
            receiver,
            receipt,
        })
    }
}

/// A message not taken in: the wire's stable code and what was wrong.
type Rejection = (ErrorCode, String);

/// What the flow decided, as the journal and the answer need it.
struct Decided {
    answer: InboxAnswer,
    summary: String,
    state: Vec<StateWrite>,
    /// Credit records the message stores, committed with its entry.
    records: Vec<crate::storage::RecordRow>,
    sends: usize,
    beyond: Vec<String>,
}

fn internal(what: &str, err: impl std::fmt::Display) -> Rejection {
    (ErrorCode::Internal, format!("{what}: {err}"))
}

/// The inbox key of a message: its sender's region and its id.
fn inbox_key(e: &Envelope) -> String {
    format!("{}/{}", e.from_region, hex::encode(e.message_id))
}

/// Why a message's body breaks its own egress record — it carries a
/// field the sender's gate did not release — or `None` when it keeps to it
/// (or cannot be read as its kind: the flow refuses that itself). A node
/// refuses such a message for good, and the auditor flags it in either
/// log.
pub fn beyond_release(e: &Envelope) -> Option<String> {
    beyond_reason(&fields_beyond_release(e))
}

/// The fields (`category.field`) `e`'s body carries that its egress record
/// does not release; empty when it keeps to it or cannot be read as its
/// kind.
pub fn fields_beyond_release(e: &Envelope) -> Vec<String> {
    beyond_record(e.flow, e.kind, &e.payload, &e.egress).unwrap_or_default()
}

fn beyond_reason(beyond: &[String]) -> Option<String> {
    (!beyond.is_empty()).then(|| {
        format!(
            "the body carries {} that its egress record does not release",
            beyond.join(", ")
        )
    })
}

/// Longest field name a refused message's entry keeps, in bytes.
const MAX_BEYOND_NAME: usize = 160;
