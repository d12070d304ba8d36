//! The operator-facing side of the lists at the origin and at a member:
//! list a subject and send the entry (发起), give feedback on a held entry
//! (反馈), change an entry (repair, revoke, correct, exit) and send the
//! change, route an objection to the origin.
//!
//! Owns: [`Lists`] and its writes, each committed with its journal entry
//! and outbox messages in one transaction. Does not own receiving
//! ([`super::receive`]) nor status ([`super::status`]).

use crate::ids::random_id;
use std::sync::Arc;

use credex_flows::calendar::china_date_text;
use credex_policies::ListType;
use credex_policies::egress::{release_change, release_feedback, release_listing};
use credex_protocol::RegionCode;
use credex_protocol::lists::{ChangeKind, EntryChange, EntryId, Feedback, ListEntry};

use crate::federation::{Federation, FederationContext};
use crate::storage::StateWrite;
use credex_journal::{
    ChangeInitiated, ENTRY_VERSION, FeedbackSent, ListingInitiated, sha256, subject_digest,
};

use super::policy::{ListsPolicy, list_type};
use super::state::*;
use super::{ENTRIES_NS, EntryDraft, FEEDBACK_NS, ListsError, RECEIVED_NS, TRACK_NS};

/// What [`Lists::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The new entry's id.
    pub id: EntryId,
    /// The regions it was sent to.
    pub sent_to: Vec<RegionCode>,
    /// Regions an agreement binds but no peer is configured for.
    pub no_peer: Vec<RegionCode>,
}

/// Joint reward/punishment lists of one node: make entries, give feedback,
/// change entries, route objections, report status. Cheap to clone.
#[derive(Clone)]
pub struct Lists {
    pub(super) federation: Federation,
    pub(super) policy: Arc<ListsPolicy>,
    /// Serialises this process's changes to entries it made (read, then
    /// write the next revision).
    pub(super) local: Arc<tokio::sync::Mutex<()>>,
}

impl Lists {
    /// These lists with their writes fenced by the region's duties lease
    /// (the objection watch, decision 1020).
    pub fn fenced(&self, fence: crate::storage::Fence) -> Lists {
        Lists {
            federation: self.federation.fenced(fence),
            ..self.clone()
        }
    }

    /// The lists of the node whose messaging is `federation`.
    pub fn new(federation: Federation, policy: ListsPolicy) -> Lists {
        Lists {
            federation,
            policy: Arc::new(policy),
            local: Arc::default(),
        }
    }

    /// The federation this region's lists travel on.
    pub fn federation(&self) -> &Federation {
        &self.federation
    }

    pub(super) fn ctx(&self) -> &FederationContext {
        self.federation.context()
    }

    /// List a subject (名单认定) and send the entry to every region an
    /// agreement binds for the list type that has a configured peer. The
    /// entry, the messages and the [`kind::LISTING_INITIATED`] entry are
    /// committed together.
    pub async fn add(&self, draft: &EntryDraft, now_ms: i64) -> Result<Added, ListsError> {
        self.add_listing(draft, None, now_ms).await
    }

    /// [`Lists::add`] for an entry that rests on one of this region's
    /// records (e.g. the penalty decision behind a serious-dishonesty
    /// listing): the record must be the subject's, and it is entered in
    /// the disclosures ledger as pushed to every member before the entry
    /// leaves, so a later correction of the record reaches them (decision
    /// 0930).
    pub async fn add_resting_on(
        &self,
        draft: &EntryDraft,
        category: &str,
        record_id: &str,
        now_ms: i64,
    ) -> Result<Added, ListsError> {
        self.add_listing(draft, Some((category, record_id)), now_ms)
            .await
    }

    async fn add_listing(
        &self,
        draft: &EntryDraft,
        rests_on: Option<(&str, &str)>,
        now_ms: i64,
    ) -> Result<Added, ListsError> {
        let ctx = self.ctx();
        let entry = ListEntry {
            id: EntryId {
                origin: ctx.region,
                id: random_id(),
            },
            revision: 0,
            list_type: draft.list_type,
            subject: self.policy.subject(&draft.subject)?,
            basis: draft.basis.clone(),
            authority: draft.authority.clone(),
            entry_date: draft.entry_date.clone(),
            planned_exit: draft.planned_exit.clone(),
            measures: draft.measures.clone(),
            notice: draft.notice.clone(),
            details: draft.details.clone(),
        };
        self.policy
            .check_entry(&entry)
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        let lt = list_type(entry.list_type);
        let bound = self.policy.agreements.joint_peers(ctx.region, lt);
        let (peers, no_peer): (Vec<RegionCode>, Vec<RegionCode>) =
            bound.into_iter().partition(|r| ctx.peers.knows(*r));
        let payload = encode(&entry)?;
        let mut writes = Vec::new();
        let mut sent_to = Vec::new();
        let mut withheld = Vec::new();
        for region in &peers {
            // Each member gets the entry as its agreement releases it.
            let (_, body) = release_listing(
                &self.policy.agreements,
                &self.policy.catalogue,
                ctx.region,
                *region,
                &entry,
            )?;
            if body.egress().withheld_count() > 0 {
                withheld.push((*region, body.egress().withheld.clone()));
            }
            let (signed, outbox) = self.federation.prepare(body, now_ms)?;
            writes.push(outbox);
            let (respond, feedback) = self
                .policy
                .terms(ctx.region, *region, lt)
                .map_or((0, 0), |t| (t.respond_within_days, t.feedback_within_days));
            let track = SentTrack {
                at_ms: now_ms,
                respond_by_ms: self.policy.deadline(now_ms, respond),
                feedback_by_ms: self.policy.deadline(now_ms, feedback),
                message_id: signed.envelope.message_id,
            };
            writes.push(StateWrite::put(
                TRACK_NS,
                track_key(&entry.id, *region, "sent"),
                encode(&track)?,
            ));
            sent_to.push((*region, signed.envelope.message_id));
        }
        let own = OwnEntry {
            entry: entry.clone(),
            created_at_ms: now_ms,
            ended: None,
            no_peer: no_peer.clone(),
            rests_on: rests_on.map(|(category, record_id)| RestsOn {
                category: category.to_owned(),
                record_id: record_id.to_owned(),
            }),
        };
        writes.push(StateWrite::put(
            ENTRIES_NS,
            entry.id.to_string(),
            encode(&own)?,
        ));
        if let Some((category, record_id)) = rests_on {
            self.disclose_record(&entry, &peers, category, record_id, now_ms)
                .await?;
        }
        let body = ListingInitiated {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: entry.id,
            list_type: entry.list_type,
            subject_digest: subject_digest(&entry.subject),
            entry_digest: sha256(&payload),
            measures: entry.measures.clone(),
            sent_to,
            no_peer: no_peer.clone(),
            withheld,
        };
        ctx.storage.append_entry_with_state(&body, writes).await?;
        self.federation.wake();
        Ok(Added {
            id: entry.id,
            sent_to: peers,
            no_peer,
        })
    }

    /// Enter the record `entry` rests on as pushed to `members`, once it is
    /// known to be the subject's record held here.
    async fn disclose_record(
        &self,
        entry: &ListEntry,
        members: &[RegionCode],
        category: &str,
        record_id: &str,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let storage = &self.ctx().storage;
        let held = match crate::pseudonyms::stored_subject_key(storage, &entry.subject).await? {
            Some(key) => storage.records_for(&key, &[category.to_owned()]).await?,
            None => Vec::new(),
        };
        if !held.iter().any(|r| r.record_id == record_id) {
            return Err(ListsError::Invalid(format!(
                "the entry rests on {category} record {record_id:?}, which this region does not hold for the subject"
            )));
        }
        if members.is_empty() {
            return Ok(());
        }
        crate::disclosures::disclose(
            storage,
            credex_journal::DisclosedBy::ListPush { entry: entry.id },
            members.to_vec(),
            &[credex_journal::record_key(category, record_id)],
            now_ms,
        )
        .await?;
        Ok(())
    }

    /// Report to the origin the measures this region applied to an entry
    /// it received (反馈).
    pub async fn feedback(
        &self,
        id: &EntryId,
        applied: &[String],
        note: &str,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let ctx = self.ctx();
        let held: HeldEntry = read(&ctx.storage, RECEIVED_NS, &id.to_string())
            .await?
            .ok_or(ListsError::NotHeld(*id))?;
        if let Some(ended) = held.ended {
            return Err(ListsError::Ended(*id, ended.change));
        }
        let feedback = Feedback {
            entry: *id,
            applied: applied.to_vec(),
            note: note.to_owned(),
        };
        feedback
            .validate()
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        self.policy
            .check_measures(list_type(held.entry.list_type), applied)
            .map_err(|e| ListsError::Invalid(format!("applied: {e}")))?;
        let (signed, outbox) = self
            .federation
            .prepare(release_feedback(id.origin, &feedback)?, now_ms)?;
        let given = FeedbackGiven {
            at_ms: now_ms,
            applied: applied.to_vec(),
            note: note.to_owned(),
        };
        let body = FeedbackSent {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: *id,
            applied: applied.to_vec(),
            note_digest: sha256(note.as_bytes()),
            message_id: signed.envelope.message_id,
        };
        ctx.storage
            .append_entry_with_state(
                &body,
                vec![
                    outbox,
                    StateWrite::put(FEEDBACK_NS, id.to_string(), encode(&given)?),
                ],
            )
            .await?;
        self.federation.wake();
        Ok(())
    }

    /// Change an entry this region made — credit repair completed (信用修复),
    /// an objection upheld (revoke, or correct with `corrected`), or the
    /// planned exit reached — and send the change to every region the entry
    /// was sent to that did not refuse it. Returns those regions.
    pub async fn change(
        &self,
        id: &EntryId,
        change: ChangeKind,
        corrected: Option<&EntryDraft>,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<RegionCode>, ListsError> {
        let ctx = self.ctx();
        if id.origin != ctx.region {
            return Err(ListsError::NotOrigin(*id));
        }
        let _local = self.local.lock().await;
        let mut own: OwnEntry = read(&ctx.storage, ENTRIES_NS, &id.to_string())
            .await?
            .ok_or(ListsError::UnknownEntry(*id))?;
        if let Some(ended) = own.ended {
            return Err(ListsError::Ended(*id, ended.change));
        }
        let revision = own.entry.revision.saturating_add(1);
        if change == ChangeKind::Exit {
            let today = china_date_text(now_ms);
            if today.as_str() < own.entry.planned_exit.as_str() {
                return Err(ListsError::ExitNotReached {
                    entry: *id,
                    planned_exit: own.entry.planned_exit.clone(),
                    today,
                });
            }
        }
        let corrected = self.corrected_entry(id, change, corrected, &own, revision)?;
        let message = EntryChange {
            entry: *id,
            revision,
            change,
            corrected: corrected.clone(),
            reason: reason.to_owned(),
        };
        message
            .validate()
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        let payload = encode(&message)?;
        let recipients = self.recipients(id).await?;
        let (mut writes, sent_to) = self.change_messages(
            &message,
            list_type(own.entry.list_type),
            &recipients,
            now_ms,
        )?;
        match corrected {
            Some(entry) => own.entry = entry,
            None => own.entry.revision = revision,
        }
        if change.ends_entry() {
            own.ended = Some(EndedAt {
                change,
                revision,
                at_ms: now_ms,
            });
        }
        writes.push(StateWrite::put(ENTRIES_NS, id.to_string(), encode(&own)?));
        let body = ChangeInitiated {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: *id,
            revision,
            change,
            change_digest: sha256(&payload),
            sent_to,
        };
        ctx.storage.append_entry_with_state(&body, writes).await?;
        self.federation.wake();
        Ok(recipients)
    }

    /// The change `message` to each of `recipients` through the egress
    /// gate: the outbox writes with each region's confirmation deadline
    /// track, and (region, message id) for the journal entry.
    #[allow(clippy::type_complexity)]
    fn change_messages(
        &self,
        message: &EntryChange,
        list: ListType,
        recipients: &[RegionCode],
        now_ms: i64,
    ) -> Result<(Vec<StateWrite>, Vec<(RegionCode, [u8; 16])>), ListsError> {
        let ctx = self.ctx();
        let mut writes = Vec::new();
        let mut sent_to = Vec::new();
        for region in recipients {
            let body = release_change(
                &self.policy.agreements,
                &self.policy.catalogue,
                ctx.region,
                *region,
                message,
            )?;
            let (signed, outbox) = self.federation.prepare(body, now_ms)?;
            writes.push(outbox);
            let days = self
                .policy
                .terms(ctx.region, *region, list)
                .map_or(0, |t| t.change_confirm_within_days);
            let track = ChangeTrack {
                change: message.change,
                at_ms: now_ms,
                confirm_by_ms: self.policy.deadline(now_ms, days),
            };
            writes.push(StateWrite::put(
                TRACK_NS,
                track_key(
                    &message.entry,
                    *region,
                    &rev_event("change", message.revision),
                ),
                encode(&track)?,
            ));
            sent_to.push((*region, signed.envelope.message_id));
        }
        Ok((writes, sent_to))
    }

    /// The corrected entry a `change` carries: only a correction has one,
    /// and it must stay on the same list and pass the entry checks.
    fn corrected_entry(
        &self,
        id: &EntryId,
        change: ChangeKind,
        corrected: Option<&EntryDraft>,
        own: &OwnEntry,
        revision: u32,
    ) -> Result<Option<ListEntry>, ListsError> {
        match (change, corrected) {
            (ChangeKind::Correct, Some(draft)) => {
                if draft.list_type != own.entry.list_type {
                    return Err(ListsError::Invalid(format!(
                        "a correction cannot move entry {id} from the {} list to the {} list; revoke it and list the subject again",
                        own.entry.list_type, draft.list_type
                    )));
                }
                let entry = ListEntry {
                    id: *id,
                    revision,
                    list_type: draft.list_type,
                    subject: self.policy.subject(&draft.subject)?,
                    basis: draft.basis.clone(),
                    authority: draft.authority.clone(),
                    entry_date: draft.entry_date.clone(),
                    planned_exit: draft.planned_exit.clone(),
                    measures: draft.measures.clone(),
                    notice: draft.notice.clone(),
                    details: draft.details.clone(),
                };
                self.policy
                    .check_entry(&entry)
                    .map_err(|e| ListsError::Invalid(e.to_string()))?;
                Ok(Some(entry))
            }
            (ChangeKind::Correct, None) => Err(ListsError::Invalid(
                "a correction needs the corrected entry".into(),
            )),
            (_, Some(_)) => Err(ListsError::Invalid(format!(
                "only a correction carries an entry, not a {change}"
            ))),
            (_, None) => Ok(None),
        }
    }

    /// The regions an entry was sent to that did not refuse it.
    pub(super) async fn recipients(&self, id: &EntryId) -> Result<Vec<RegionCode>, ListsError> {
        let tracks = scan(&self.ctx().storage, TRACK_NS, &format!("{id}/")).await?;
        credex_flows::lists::holders(id, tracks.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| ListsError::Corrupt(format!("entry {id}'s tracks: {e}")))
    }
}
