//! Driving a pure flow ([`credex_flows::flow::Flow`]): read the state the
//! flow names from storage into a [`View`], hand the flow the time and the
//! current trust store, and return its effect (or its typed refusal) for
//! [`Federation`] to commit.

use std::collections::BTreeMap;

use credex_flows::flow::{
    self, Context, HeldRecord, Peer, Read, Refusal, StateKey, SubjectRecords, View,
};
use credex_protocol::federation::{DeliveryAck, Envelope};
use credex_protocol::query::SubjectRef;

use super::{Effect, Federation, FederationFlow};
use crate::storage::{StateWrite, Storage, StorageError};
use crate::transport::PeerIdentity;

/// Read what `reads` names into a [`View`].
pub async fn read_view(storage: &Storage, reads: &[Read]) -> Result<View, StorageError> {
    let mut view = View::default();
    // Subjects' records are read together, by the categories asked.
    let mut subject_reads: BTreeMap<&Vec<String>, Vec<String>> = BTreeMap::new();
    for read in reads {
        match read {
            Read::State(key) => {
                if let Some(value) = storage.state(&key.ns, &key.key).await? {
                    view.insert(key.clone(), value);
                }
            }
            Read::Prefix { ns, prefix } => {
                let mut after: Option<String> = None;
                loop {
                    let page = storage
                        .state_scan(ns, prefix, after.as_deref(), crate::storage::MAX_STATE_SCAN)
                        .await?;
                    let full = page.len() == crate::storage::MAX_STATE_SCAN as usize;
                    after = page.last().map(|(k, _)| k.clone());
                    for (key, value) in page {
                        view.insert(StateKey::new(ns.clone(), key), value);
                    }
                    if view.prefixed(ns, prefix).count() > flow::MAX_PREFIX_READ {
                        return Err(StorageError::InvalidState {
                            reason: format!(
                                "more than {} keys of {ns} start with {prefix:?}",
                                flow::MAX_PREFIX_READ
                            ),
                        });
                    }
                    if !full {
                        break;
                    }
                }
            }
            Read::SubjectRecords {
                subject,
                categories,
            } => subject_reads
                .entry(categories)
                .or_default()
                .push(subject.clone()),
            Read::Record { subject, record } => {
                if let Some(held) = held_record(storage, subject, record).await? {
                    view.insert_record(*record, held);
                }
            }
            Read::Copy(of) => {
                if let Some(held) = storage.record_copy(of).await? {
                    view.insert_copy(*of, held);
                }
            }
        }
    }
    for (categories, subjects) in subject_reads {
        for chunk in subjects.chunks(crate::storage::MAX_SUBJECTS_PER_READ) {
            let held = storage.record_keys_of_subjects(chunk, categories).await?;
            for (subject, keys) in chunk.iter().zip(held) {
                let records = match keys {
                    Some(keys) => SubjectRecords::Held(keys),
                    None => SubjectRecords::TooMany,
                };
                view.insert_subject(subject.clone(), records);
            }
        }
    }
    Ok(view)
}

/// The record of `subject` under `key`, if this node holds it: the
/// subject's records are few (bounded per subject), so each one's key is
/// computed and compared.
async fn held_record(
    storage: &Storage,
    subject: &SubjectRef,
    key: &[u8; 32],
) -> Result<Option<HeldRecord>, StorageError> {
    let Some(subject_key) = crate::pseudonyms::stored_subject_key(storage, subject).await? else {
        return Ok(None);
    };
    Ok(storage
        .records_of_subjects(std::slice::from_ref(&subject_key))
        .await?
        .into_iter()
        .find(|r| credex_journal::record_key(&r.record.category, &r.record.record_id) == *key)
        .map(|r| HeldRecord {
            category: r.record.category,
            record_id: r.record.record_id,
            subject_key: r.subject_key,
            body: r.record.body,
        }))
}

impl Federation {
    /// What `flow` decides on `envelope` from `from` at `now_ms`, against
    /// the stored state it names.
    pub(super) async fn flow_receive(
        &self,
        flow: &dyn FederationFlow,
        from: &PeerIdentity,
        envelope: &Envelope,
        now_ms: i64,
    ) -> Result<Effect, Refusal> {
        let ctx = self.context();
        let from = Peer {
            region: from.region,
            node: from.name.clone(),
        };
        let reads = flow.reads(&from, envelope)?;
        let view = read_view(&ctx.storage, &reads)
            .await
            .map_err(|e| Refusal::Transient(e.to_string()))?;
        let trust = ctx.trust.current();
        let cx = Context {
            now_ms,
            trust: &trust,
        };
        flow.receive(&cx, &view, &from, envelope)
    }

    /// The state writes `flow` commits with the sent entry of `envelope`,
    /// now that `ack` (verified) came back.
    pub(super) async fn flow_acknowledged(
        &self,
        flow: &dyn FederationFlow,
        envelope: &Envelope,
        ack: &DeliveryAck,
        now_ms: i64,
    ) -> Result<Vec<StateWrite>, String> {
        let ctx = self.context();
        let reads = flow.acknowledged_reads(envelope, ack);
        let view = read_view(&ctx.storage, &reads)
            .await
            .map_err(|e| e.to_string())?;
        let trust = ctx.trust.current();
        let cx = Context {
            now_ms,
            trust: &trust,
        };
        flow.acknowledged(&cx, &view, envelope, ack)
            .map_err(|e: flow::AckError| e.to_string())
    }
}
