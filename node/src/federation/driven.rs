//! The node's driver of a pure flow ([`credex_flows::flow::Flow`]): it
//! reads the state the flow names from storage, hands the flow the time
//! and the current trust store, and returns the flow's effect for
//! [`super::Federation`] to commit.

use credex_flows::flow::{self, Context, Peer, Read, SubjectRecords, View};
use credex_protocol::federation::{DeliveryAck, Envelope};

use super::{Effect, FlowFuture, FlowHandler, Refusal};
use crate::storage::{StateWrite, Storage, StorageError};
use crate::tls::FederationTrust;
use crate::transport::PeerIdentity;

/// A pure flow driven by this node.
pub struct Driven<F> {
    flow: F,
    storage: Storage,
    trust: FederationTrust,
}

impl<F: flow::Flow> Driven<F> {
    /// Drive `flow` against `storage` and `trust`.
    pub fn new(flow: F, storage: Storage, trust: FederationTrust) -> Driven<F> {
        Driven {
            flow,
            storage,
            trust,
        }
    }
}

/// Read what `reads` names into a [`View`].
pub async fn read_view(storage: &Storage, reads: &[Read]) -> Result<View, StorageError> {
    let mut view = View::default();
    for read in reads {
        match read {
            Read::State(key) => {
                if let Some(value) = storage.state(&key.ns, &key.key).await? {
                    view.insert(key.clone(), value);
                }
            }
            Read::SubjectRecords {
                subject,
                categories,
            } => {
                let held = match storage.records_for(subject, categories).await {
                    Ok(held) => SubjectRecords::Held(
                        held.into_iter()
                            .map(|r| (r.category, r.record_id))
                            .collect(),
                    ),
                    Err(StorageError::TooManyRecords { .. }) => SubjectRecords::TooMany,
                    Err(e) => return Err(e),
                };
                view.insert_subject(subject.clone(), held);
            }
        }
    }
    Ok(view)
}

/// The node's refusal for a flow's: the stable code leads the reason the
/// journal and the sender see.
fn refusal(refused: flow::Refusal) -> Refusal {
    match refused {
        flow::Refusal::Permanent(r) => Refusal::Permanent(format!("{}: {r}", r.code())),
        flow::Refusal::Transient(reason) => Refusal::Transient(reason),
    }
}

fn peer(from: &PeerIdentity) -> Peer {
    Peer {
        region: from.region,
        node: from.name.clone(),
    }
}

impl<F: flow::Flow> FlowHandler for Driven<F> {
    fn receive<'a>(
        &'a self,
        from: &'a PeerIdentity,
        envelope: &'a Envelope,
    ) -> FlowFuture<'a, Result<Effect, Refusal>> {
        Box::pin(async move {
            let from = peer(from);
            let reads = self.flow.reads(&from, envelope).map_err(refusal)?;
            let view = read_view(&self.storage, &reads)
                .await
                .map_err(|e| Refusal::Transient(e.to_string()))?;
            let trust = self.trust.current();
            let cx = Context {
                now_ms: self.storage.clock().now_ms(),
                trust: &trust,
            };
            self.flow
                .receive(&cx, &view, &from, envelope)
                .map_err(refusal)
        })
    }

    fn acknowledged<'a>(
        &'a self,
        envelope: &'a Envelope,
        ack: &'a DeliveryAck,
    ) -> FlowFuture<'a, Result<Vec<StateWrite>, String>> {
        Box::pin(async move {
            let reads = self.flow.acknowledged_reads(envelope, ack);
            let view = read_view(&self.storage, &reads)
                .await
                .map_err(|e| e.to_string())?;
            let trust = self.trust.current();
            let cx = Context {
                now_ms: self.storage.clock().now_ms(),
                trust: &trust,
            };
            self.flow
                .acknowledged(&cx, &view, envelope, ack)
                .map_err(|e| e.to_string())
        })
    }
}
