//! The 31 provincial reporters of `credex bench intake`: each a province's
//! real node certificate and key on a QUIC connection of its own to the
//! national node, with its upward batches made before the clock starts the
//! way its reporter makes them — records projected by the egress gate onto
//! what the reporting catalogue collects ([`release_upward_batch`]), the
//! envelope signed with the province's node key
//! ([`credex_node::federation::sign_envelope`]).
//!
//! Owns: [`Province`] and [`Province::report`], which sends its batches one
//! after the other (a province's outbox delivers in sequence order, one
//! message at a time) and checks each acknowledgement as the province does.
//! Does not own the national node nor the figures ([`super`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use credex_node::boot::{NodeIdentity, client_transport_with};
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::federation::{sign_envelope, verify_ack};
use credex_node::query::subject_key;
use credex_node::service::RunningNode;
use credex_node::transport::{PeerConnection, Transport};
use credex_policies::egress::{UpwardCandidate, release_upward_batch};
use credex_policies::{Catalogue, ReportingList};
use credex_protocol::federation::{DeliveryStatus, SignedEnvelope};
use credex_protocol::query::SubjectRef;
use credex_protocol::{ErrorCode, RegionCode, Request, Response};

use crate::bench::BenchError;
use crate::dev::{synthetic_penalty, synthetic_record, synthetic_uscc};

/// How long a province waits before sending a batch again that the national
/// node asked to be sent later (a transient refusal).
const RETRY_AFTER: Duration = Duration::from_millis(10);
/// Most times one batch is sent again before the run gives up on it.
const MAX_RETRIES: u32 = 200;

/// One reporting province: its connection to the national node and the
/// batches it will send, in sequence order.
pub(super) struct Province {
    pub(super) region: RegionCode,
    transport: Transport,
    conn: Arc<PeerConnection>,
    batches: Vec<(SignedEnvelope, u32)>,
}

/// When each of a province's batches was acknowledged, and what went wrong.
#[derive(Debug, Default)]
pub(super) struct Reported {
    /// Per acknowledged batch: (records, sent at, acknowledged at).
    pub(super) acked: Vec<(u32, Instant, Instant)>,
    /// Batches the national node asked to send again later.
    pub(super) retries: u64,
    /// Why the province stopped before its last batch, if it did.
    pub(super) error: Option<String>,
}

impl Province {
    /// Province `config`'s reporter, connected to `national`, with
    /// `batches` batches of `batch_size` synthetic penalties each, made
    /// under `list` and `catalogue` (the national node's).
    pub(super) async fn connect(
        config: &NodeConfig,
        national: &RunningNode,
        list: &ReportingList,
        catalogue: &Catalogue,
        batches: usize,
        batch_size: usize,
    ) -> Result<Province, BenchError> {
        let identity = NodeIdentity::load(config)?;
        let transport = client_transport_with(config, identity.credentials.clone())?;
        let to = national.config();
        let conn = transport
            .connect(
                national.local_addr(),
                &logical_server_name(to.region, &to.name),
                to.region,
                Some(to.name.clone()),
            )
            .await?;
        let made = tokio::task::block_in_place(|| {
            make_batches(config, &identity, list, catalogue, batches, batch_size)
        })?;
        Ok(Province {
            region: config.region,
            transport,
            conn: Arc::new(conn),
            batches: made,
        })
    }

    /// Records this province will send.
    pub(super) fn records(&self) -> u64 {
        self.batches.iter().map(|(_, n)| u64::from(*n)).sum()
    }

    /// Send every batch in order, each once acknowledged as applied (sent
    /// again after [`RETRY_AFTER`] when the national node asks), checking
    /// each acknowledgement's signature and log receipt as the province's
    /// delivery does.
    pub(super) async fn report(&self) -> Reported {
        let mut out = Reported::default();
        let trust = self.transport.trust().current();
        for (signed, records) in &self.batches {
            let request = Request::Deliver(Box::new(signed.clone()));
            let sent = Instant::now();
            let mut tries = 0;
            let answer = loop {
                match self.conn.request(&request).await {
                    Ok(Response::Error(e))
                        if e.code == ErrorCode::Internal && tries < MAX_RETRIES =>
                    {
                        tries += 1;
                        out.retries += 1;
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                    other => break other,
                }
            };
            let checked = match answer {
                Ok(Response::Delivered(ack)) => {
                    let now_ms = credex_node::query::unix_ms(SystemTime::now());
                    match verify_ack(signed, &ack, &trust, now_ms) {
                        Err(e) => Err(format!("acknowledgement rejected: {e}")),
                        Ok(_) if ack.ack.status != DeliveryStatus::Applied => {
                            Err(format!("not applied: {:?}", ack.ack.status))
                        }
                        Ok(_) => Ok(()),
                    }
                }
                Ok(Response::Error(e)) => Err(format!("refused: {:?}: {}", e.code, e.message)),
                Ok(_) => Err("an answer of another kind".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = checked {
                let seq = out.acked.len();
                out.error = Some(format!("{} batch {seq}: {e}", self.region));
                break;
            }
            out.acked.push((*records, sent, Instant::now()));
        }
        out
    }

    /// Close the connection and the endpoint.
    pub(super) async fn close(self) {
        self.conn.close();
        self.transport.close().await;
    }
}

/// `batches` batches of `batch_size` distinct companies' penalties, made
/// and signed as the province's reporter makes them.
fn make_batches(
    config: &NodeConfig,
    identity: &NodeIdentity,
    list: &ReportingList,
    catalogue: &Catalogue,
    batches: usize,
    batch_size: usize,
) -> Result<Vec<(SignedEnvelope, u32)>, BenchError> {
    let region = config.region;
    let fail = |reason: String| BenchError::Usage(format!("making {region}'s batches: {reason}"));
    let now_ms = credex_node::query::unix_ms(SystemTime::now());
    let mut out = Vec::with_capacity(batches);
    for seq in 0..batches {
        let mut held = Vec::with_capacity(batch_size);
        for i in 0..batch_size {
            let n = u32::try_from(seq * batch_size + i + 1).map_err(|e| fail(e.to_string()))?;
            let record =
                synthetic_record(catalogue, "admin_penalty", &synthetic_penalty(region, n))
                    .map_err(fail)?;
            held.push(UpwardCandidate {
                record_id: format!("{region}-AP-{n:07}"),
                subject_key: subject_key(&SubjectRef::LegalPerson(synthetic_uscc(region, n))),
                record,
                imported_at_ms: now_ms,
            });
        }
        let (batch, body) = release_upward_batch(list, catalogue, seq as u64, held)
            .map_err(|e| fail(e.to_string()))?;
        let signed = sign_envelope(
            body,
            region,
            config.name.clone(),
            &identity.signing_key,
            identity.chain.clone(),
            now_ms + seq as i64,
        )
        .map_err(|e| fail(e.to_string()))?;
        out.push((
            signed,
            u32::try_from(batch.records.len()).unwrap_or(u32::MAX),
        ));
    }
    Ok(out)
}
