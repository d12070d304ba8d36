//! Receiving lists messages from other regions ([`ListsHandler`]): a new
//! listing held, a change applied and confirmed, feedback, a change
//! confirmation and an objection recorded at the origin — each checked
//! against the sender, the agreements and what was sent, and returned as
//! the state to commit with the message.
//!
//! Owns: the flow handler and its registration. Does not own the operator's
//! side ([`super::service`]).

use std::sync::Arc;

use credex_policies::egress::release_change_confirmed;
use credex_protocol::RegionCode;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow};
use credex_protocol::lists::{
    ChangeConfirmed, EntryChange, EntryId, Feedback, ListEntry, Objection, kind as msg,
};
use credex_protocol::query::SubjectRef;

use crate::config::NodeConfig;
use crate::federation::{Effect, Federation, FlowFuture, FlowHandler, Refusal, WeakFederation};
use crate::service::StartError;
use crate::storage::StateWrite;
use crate::transport::PeerIdentity;
use credex_journal::subject_digest;

use super::policy::{ListsPolicy, list_type};
use super::state::*;
use super::{ENTRIES_NS, OBJECTIONS_NS, RECEIVED_NS, TRACK_NS};

/// The lists flow's side of federation messaging.
pub struct ListsHandler {
    federation: WeakFederation,
    policy: Arc<ListsPolicy>,
}

impl ListsHandler {
    /// A handler deciding against `policy`, sending follow-up messages
    /// (change confirmations) through `federation`.
    pub fn new(federation: &Federation, policy: ListsPolicy) -> ListsHandler {
        ListsHandler {
            federation: federation.downgrade(),
            policy: Arc::new(policy),
        }
    }

    fn federation(&self) -> Result<Federation, Refusal> {
        self.federation
            .upgrade()
            .ok_or_else(|| Refusal::Transient("the node is shutting down".into()))
    }

    async fn receive_inner(
        &self,
        from: &PeerIdentity,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        let federation = self.federation()?;
        let now_ms = crate::service::now_ms();
        match envelope.kind {
            msg::LISTING => self.listing(&federation, from, envelope, now_ms).await,
            msg::CHANGE => self.change(&federation, from, envelope, now_ms).await,
            msg::FEEDBACK => self.feedback(from, envelope, now_ms).await,
            msg::CHANGE_CONFIRMED => {
                self.change_confirmed(&federation, from, envelope, now_ms)
                    .await
            }
            msg::OBJECTION => self.objection(from, envelope, now_ms).await,
            other => Err(Refusal::Permanent(format!(
                "unknown lists message kind {other}"
            ))),
        }
    }

    /// A new listing from its origin: valid, sent by its origin, revision 0,
    /// from a region an agreement binds for the list, not held yet; held.
    async fn listing(
        &self,
        federation: &Federation,
        from: &PeerIdentity,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<Effect, Refusal> {
        let ctx = federation.context();
        let entry: ListEntry = decode_payload(envelope)?;
        self.policy
            .check_entry(&entry)
            .map_err(Refusal::Permanent)?;
        if entry.id.origin != from.region {
            return Err(Refusal::Permanent(format!(
                "entry {} names region {} as its origin, but was sent by region {}: a region sends only its own entries",
                entry.id, entry.id.origin, from.region
            )));
        }
        if entry.revision != 0 {
            return Err(Refusal::Permanent(format!(
                "a new entry has revision 0, not {}",
                entry.revision
            )));
        }
        let lt = list_type(entry.list_type);
        if !self
            .policy
            .agreements
            .joint_peers(ctx.region, lt)
            .contains(&from.region)
        {
            return Err(Refusal::Permanent(format!(
                "no agreement binds regions {} and {} for the {} list",
                from.region, ctx.region, entry.list_type
            )));
        }
        let key = entry.id.to_string();
        if read::<HeldEntry>(&ctx.storage, RECEIVED_NS, &key)
            .await
            .map_err(transient)?
            .is_some()
        {
            return Err(Refusal::Permanent(format!(
                "entry {key} was already received"
            )));
        }
        let summary = format!(
            "listing {key} on the {} list, subject {}: held",
            entry.list_type,
            short_digest(&entry.subject)
        );
        let held = HeldEntry {
            entry,
            received_at_ms: now_ms,
            from_node: from.name.clone(),
            ended: None,
        };
        Ok(Effect {
            state: vec![StateWrite::put(
                RECEIVED_NS,
                key,
                encode(&held).map_err(transient)?,
            )],
            reply: Vec::new(),
            summary,
            ..Effect::default()
        })
    }

    /// A change to a held entry from its origin: newer than the held
    /// revision, the entry not ended; applied, and a confirmation queued.
    async fn change(
        &self,
        federation: &Federation,
        from: &PeerIdentity,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<Effect, Refusal> {
        let ctx = federation.context();
        let change: EntryChange = decode_payload(envelope)?;
        change
            .validate()
            .map_err(|e| Refusal::Permanent(e.to_string()))?;
        let id = change.entry;
        if id.origin != from.region {
            return Err(Refusal::Permanent(format!(
                "entry {id} was made by region {}; region {} cannot change it",
                id.origin, from.region
            )));
        }
        let key = id.to_string();
        let mut held: HeldEntry = read(&ctx.storage, RECEIVED_NS, &key)
            .await
            .map_err(transient)?
            .ok_or_else(|| Refusal::Permanent(format!("this region holds no entry {key}")))?;
        if change.revision <= held.entry.revision {
            return Err(Refusal::Permanent(format!(
                "entry {key}: revision {} is not newer than the held revision {}",
                change.revision, held.entry.revision
            )));
        }
        if let Some(ended) = held.ended {
            return Err(Refusal::Permanent(format!(
                "entry {key} has already ended ({})",
                ended.change
            )));
        }
        match &change.corrected {
            Some(corrected) => {
                self.policy
                    .check_entry(corrected)
                    .map_err(Refusal::Permanent)?;
                if corrected.list_type != held.entry.list_type {
                    return Err(Refusal::Permanent(format!(
                        "a correction cannot move entry {key} to another list"
                    )));
                }
                held.entry = corrected.clone();
            }
            None => held.entry.revision = change.revision,
        }
        if change.change.ends_entry() {
            held.ended = Some(EndedAt {
                change: change.change,
                revision: change.revision,
                at_ms: now_ms,
            });
        }
        let confirmation = ChangeConfirmed {
            entry: id,
            revision: change.revision,
        };
        let body = release_change_confirmed(from.region, &confirmation)
            .map_err(|e| Refusal::Transient(e.to_string()))?;
        let (_, outbox) = federation
            .prepare(body, now_ms)
            .map_err(|e| Refusal::Transient(e.to_string()))?;
        federation.wake();
        Ok(Effect {
            state: vec![
                StateWrite::put(RECEIVED_NS, key.clone(), encode(&held).map_err(transient)?),
                outbox,
            ],
            reply: Vec::new(),
            summary: format!(
                "change {} of entry {key} to revision {}: applied, confirmation queued",
                change.change, change.revision
            ),
            ..Effect::default()
        })
    }

    /// Feedback on an entry this region sent to the sender: the measures it
    /// applied, recorded.
    async fn feedback(
        &self,
        from: &PeerIdentity,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<Effect, Refusal> {
        let feedback: Feedback = decode_payload(envelope)?;
        feedback
            .validate()
            .map_err(|e| Refusal::Permanent(e.to_string()))?;
        let own = self.own_sent_to(&feedback.entry, from.region).await?;
        self.policy
            .check_measures(list_type(own.entry.list_type), &feedback.applied)
            .map_err(|e| Refusal::Permanent(format!("applied: {e}")))?;
        let track = FeedbackTrack {
            at_ms: now_ms,
            applied: feedback.applied.clone(),
            note: feedback.note,
        };
        Ok(Effect {
            state: vec![StateWrite::put(
                TRACK_NS,
                track_key(&feedback.entry, from.region, "feedback"),
                encode(&track).map_err(transient)?,
            )],
            reply: Vec::new(),
            summary: format!(
                "feedback on entry {}: applied {}",
                feedback.entry,
                feedback.applied.join(",")
            ),
            ..Effect::default()
        })
    }

    /// The sender confirms a change this region sent it: recorded.
    async fn change_confirmed(
        &self,
        federation: &Federation,
        from: &PeerIdentity,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<Effect, Refusal> {
        let ctx = federation.context();
        let confirmed: ChangeConfirmed = decode_payload(envelope)?;
        self.own_sent_to(&confirmed.entry, from.region).await?;
        let change_key = track_key(
            &confirmed.entry,
            from.region,
            &rev_event("change", confirmed.revision),
        );
        if read::<ChangeTrack>(&ctx.storage, TRACK_NS, &change_key)
            .await
            .map_err(transient)?
            .is_none()
        {
            return Err(Refusal::Permanent(format!(
                "no change to revision {} of entry {} was sent to region {}",
                confirmed.revision, confirmed.entry, from.region
            )));
        }
        let track = ConfirmTrack { at_ms: now_ms };
        Ok(Effect {
            state: vec![StateWrite::put(
                TRACK_NS,
                track_key(
                    &confirmed.entry,
                    from.region,
                    &rev_event("confirm", confirmed.revision),
                ),
                encode(&track).map_err(transient)?,
            )],
            reply: Vec::new(),
            summary: format!(
                "entry {} revision {} confirmed",
                confirmed.entry, confirmed.revision
            ),
            ..Effect::default()
        })
    }

    /// An objection to an entry this region sent to the sender: recorded.
    async fn objection(
        &self,
        from: &PeerIdentity,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<Effect, Refusal> {
        let objection: Objection = decode_payload(envelope)?;
        objection
            .validate()
            .map_err(|e| Refusal::Permanent(e.to_string()))?;
        self.own_sent_to(&objection.entry, from.region).await?;
        let track = ObjectionTrack {
            at_ms: now_ms,
            reason: objection.reason,
        };
        Ok(Effect {
            state: vec![StateWrite::put(
                OBJECTIONS_NS,
                format!(
                    "{}/{}/{}",
                    objection.entry,
                    from.region,
                    hex::encode(envelope.message_id)
                ),
                encode(&track).map_err(transient)?,
            )],
            reply: Vec::new(),
            summary: format!("objection to entry {} recorded", objection.entry),
            ..Effect::default()
        })
    }

    /// The entry `id`, if this region made it and sent it to `region`.
    async fn own_sent_to(&self, id: &EntryId, region: RegionCode) -> Result<OwnEntry, Refusal> {
        let federation = self.federation()?;
        let ctx = federation.context();
        if id.origin != ctx.region {
            return Err(Refusal::Permanent(format!(
                "entry {id} was made by region {}, not by this region {}",
                id.origin, ctx.region
            )));
        }
        let own: OwnEntry = read(&ctx.storage, ENTRIES_NS, &id.to_string())
            .await
            .map_err(transient)?
            .ok_or_else(|| Refusal::Permanent(format!("no entry {id} was made here")))?;
        if read::<SentTrack>(&ctx.storage, TRACK_NS, &track_key(id, region, "sent"))
            .await
            .map_err(transient)?
            .is_none()
        {
            return Err(Refusal::Permanent(format!(
                "entry {id} was not sent to region {region}"
            )));
        }
        let responded: Option<AckTrack> =
            read(&ctx.storage, TRACK_NS, &track_key(id, region, "responded"))
                .await
                .map_err(transient)?;
        if responded.is_some_and(|r| r.refused.is_some()) {
            return Err(Refusal::Permanent(format!(
                "region {region} refused entry {id}; it holds no copy to answer for"
            )));
        }
        Ok(own)
    }
}

impl FlowHandler for ListsHandler {
    fn receive<'a>(
        &'a self,
        from: &'a PeerIdentity,
        envelope: &'a Envelope,
    ) -> FlowFuture<'a, Result<Effect, Refusal>> {
        Box::pin(self.receive_inner(from, envelope))
    }

    fn acknowledged<'a>(
        &'a self,
        envelope: &'a Envelope,
        ack: &'a DeliveryAck,
    ) -> FlowFuture<'a, Result<Vec<StateWrite>, String>> {
        Box::pin(async move {
            let refused = match &ack.status {
                DeliveryStatus::Refused { reason } => Some(reason.clone()),
                _ => None,
            };
            let track = AckTrack {
                at_ms: crate::service::now_ms(),
                node: ack.receiver_node.clone(),
                refused,
            };
            // A payload this node cannot read back was not made by this
            // module: nothing to track, and the acknowledgement is still
            // logged (an error here would retry the delivery forever).
            let key = match envelope.kind {
                msg::LISTING => match credex_protocol::decode::<ListEntry>(&envelope.payload) {
                    Ok(entry) => track_key(&entry.id, envelope.to_region, "responded"),
                    Err(_) => return Ok(Vec::new()),
                },
                msg::CHANGE => match credex_protocol::decode::<EntryChange>(&envelope.payload) {
                    Ok(change) => track_key(
                        &change.entry,
                        envelope.to_region,
                        &rev_event("changeack", change.revision),
                    ),
                    Err(_) => return Ok(Vec::new()),
                },
                _ => return Ok(Vec::new()),
            };
            let value = encode(&track).map_err(|e| e.to_string())?;
            Ok(vec![StateWrite::put(TRACK_NS, key, value)])
        })
    }
}

/// Register the lists flow with `federation`: the agreements beside the
/// configuration, the shipped measures catalogue, and `catalogue` (the
/// node's policy's, loaded at start).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &credex_policies::Catalogue,
) -> Result<(), StartError> {
    federation.register(
        Flow::Lists,
        Arc::new(ListsHandler::new(
            federation,
            ListsPolicy::with_catalogue(config, catalogue)?,
        )),
    );
    Ok(())
}

fn decode_payload<T: serde::de::DeserializeOwned>(envelope: &Envelope) -> Result<T, Refusal> {
    credex_protocol::decode(&envelope.payload).map_err(|e| {
        Refusal::Permanent(format!(
            "lists message kind {} does not decode: {e}",
            envelope.kind
        ))
    })
}

fn transient(e: impl std::fmt::Display) -> Refusal {
    Refusal::Transient(e.to_string())
}

/// The first 8 bytes of a subject's digest, hex (for summaries).
fn short_digest(subject: &SubjectRef) -> String {
    hex::encode(&subject_digest(subject)[..8])
}
