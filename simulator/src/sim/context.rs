//! What the workload, the fault schedule and the witnesses share while a
//! simulation runs: each node's slot (its configuration, the running node,
//! its address), the connections between nodes with their dial backoff,
//! the per-second counters, and starting and stopping a node.
//!
//! Owns: [`Ctx`] and the query path through it ([`Ctx::connection`],
//! [`Ctx::send`], [`Ctx::note`]). Does not own what queries are made
//! ([`super::workload`]) nor when faults strike
//! ([`super::fault_schedule`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use credex_kit::relay::UdpRelay;
use credex_node::requester::{self, Signer};
use credex_node::service::RunningNode;
use credex_node::storage::Storage;
use credex_node::transport::{PeerConnection, Transport};
use credex_protocol::query::{AuthorizedQuery, QueryResponse};

use super::workload::QueryMix;
use crate::faults::{Fault, FaultKind};
use crate::federation::{Federation, SimNode};
use crate::malicious::MaliciousCounts;
use crate::report::PeerQuota;

/// How long other queries for a pair fail fast while one dial is under way
/// (above the nodes' 2 s handshake timeout).
const DIAL_WINDOW: Duration = Duration::from_millis(2500);

/// What a running node shares with the workload.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) transport: Transport,
    pub(crate) storage: Storage,
}

pub(crate) struct Slot {
    pub(crate) node: SimNode,
    pub(super) config: credex_node::config::NodeConfig,
    pub(crate) running: tokio::sync::Mutex<Option<RunningNode>>,
    pub(super) live: RwLock<Option<Live>>,
    pub(super) addr: RwLock<std::net::SocketAddr>,
    pub(crate) revoked: AtomicBool,
}

impl Slot {
    pub(crate) fn live(&self) -> Option<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn addr(&self) -> std::net::SocketAddr {
        *self.addr.read().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct Signers {
    pub(crate) requester: Signer,
    pub(crate) approver: Signer,
    /// The region's authorization authority: signs consent to queries
    /// other regions make of this one.
    pub(crate) portal: Signer,
}

/// Counters a fault keeps about the queries that involve its nodes.
#[derive(Default)]
pub(super) struct Watch {
    pub(super) failed_during: AtomicU64,
    pub(super) answered_during: AtomicU64,
    pub(super) answered_after: AtomicU64,
    pub(super) failed_after: AtomicU64,
}

pub(super) struct FaultState {
    pub(super) fault: Fault,
    pub(super) nodes: Vec<usize>,
    pub(super) watch: Watch,
    /// When the fault took effect (for revoke: CRLs reloaded everywhere), s.
    pub(super) started_s: Mutex<Option<f64>>,
    pub(super) ended_s: Mutex<Option<f64>>,
    pub(super) notes: Mutex<Vec<String>>,
}

pub(crate) struct Ctx {
    pub(super) fed: Federation,
    pub(crate) slots: Vec<Slot>,
    pub(crate) signers: Vec<Signers>,
    pub(crate) provinces: Vec<usize>,
    pub(super) national: usize,
    pub(super) mix: QueryMix,
    pub(super) request_timeout: Duration,
    pub(super) conns: Mutex<HashMap<(usize, usize), Arc<PeerConnection>>>,
    pub(super) in_flight: Mutex<HashMap<(usize, usize), usize>>,
    pub(super) backoff: Mutex<HashMap<(usize, usize), Instant>>,
    pub(super) relays: HashMap<(usize, usize), UdpRelay>,
    pub(super) faults: Vec<FaultState>,
    pub(super) start: Instant,
    pub(crate) deadline: Instant,
    pub(super) ok_per_s: Vec<AtomicU64>,
    pub(super) failed_per_s: Vec<AtomicU64>,
    pub(super) answered: AtomicU64,
    pub(super) leaks: AtomicU64,
    pub(crate) malicious: Mutex<MaliciousCounts>,
    /// The per-region quota every node enforces.
    pub(crate) peer_quota: PeerQuota,
}

/// Why a query did not get an answer.
pub(crate) enum Failure {
    /// The requesting node is down: nothing sent.
    RequesterDown,
    /// Could not connect (or a recent attempt failed: backing off).
    Unreachable(String),
    /// Sent, but no verified answer.
    Failed(String),
}

impl Ctx {
    pub(crate) fn elapsed_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub(super) fn bucket(&self, at: Instant) -> usize {
        let s = at.saturating_duration_since(self.start).as_secs() as usize;
        s.min(self.ok_per_s.len() - 1)
    }

    pub(super) fn evict(&self, from: usize, to: usize) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(from, to));
    }

    pub(super) fn evict_node(&self, k: usize) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(a, b), _| *a != k && *b != k);
    }

    /// The pairs with an open connection, as (from, to).
    pub(super) fn open_pairs(&self) -> Vec<(usize, usize)> {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// The open connection of a pair, if it still has one.
    pub(super) fn open_connection(&self, from: usize, to: usize) -> Option<Arc<PeerConnection>> {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(from, to))
            .cloned()
    }

    pub(crate) async fn connection(
        &self,
        from: usize,
        to: usize,
        live: &Live,
    ) -> Result<Arc<PeerConnection>, Failure> {
        if let Some(c) = self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(from, to))
        {
            return Ok(Arc::clone(c));
        }
        if let Some(until) = self
            .backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(from, to))
            && Instant::now() < *until
        {
            return Err(Failure::Unreachable(
                "backing off after a failed dial".into(),
            ));
        }
        // One dial per pair at a time: while it is under way, other queries
        // for the pair fail fast instead of each waiting for the handshake.
        self.backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((from, to), Instant::now() + DIAL_WINDOW);
        let target = &self.slots[to];
        let addr = match self.relays.get(&(from, to)) {
            Some(relay) => relay.addr(),
            None => target.addr(),
        };
        let name = target.node.name.clone();
        let region = target.node.region;
        let server_name = credex_node::config::logical_server_name(region, &name);
        match live
            .transport
            .connect(addr, &server_name, region, Some(name))
            .await
        {
            Ok(c) => {
                let c = Arc::new(c);
                self.backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(from, to));
                self.conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((from, to), Arc::clone(&c));
                Ok(c)
            }
            Err(e) => {
                self.backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((from, to), Instant::now() + Duration::from_secs(1));
                Err(Failure::Unreachable(e.to_string()))
            }
        }
    }

    /// Send `query` from node `from` to node `to`.
    pub(crate) async fn send(
        &self,
        from: usize,
        to: usize,
        query: &AuthorizedQuery,
    ) -> Result<QueryResponse, Failure> {
        let Some(live) = self.slots[from].live() else {
            return Err(Failure::RequesterDown);
        };
        let conn = self.connection(from, to, &live).await?;
        let trust = live.transport.trust().current();
        let sent = tokio::time::timeout(
            self.request_timeout,
            requester::send(&conn, &trust, &live.storage, query),
        )
        .await
        .unwrap_or_else(|_| {
            Err(requester::RequesterError::NotReady(format!(
                "no verified answer within {} ms (timed out)",
                self.request_timeout.as_millis()
            )))
        });
        match sent {
            Ok(r) => Ok(r),
            Err(e) => {
                self.evict(from, to);
                // Circuit breaker: a pair that just failed is left alone for
                // a second, so a hung pair does not absorb every worker.
                self.backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((from, to), Instant::now() + Duration::from_secs(1));
                Err(Failure::Failed(e.to_string()))
            }
        }
    }

    /// Count a query from `from` to `to` sent at `sent_at` s towards the
    /// faults that involve the pair: during, or after the fault ended.
    pub(super) fn note(&self, from: usize, to: usize, sent_at: f64, answered: bool) {
        for f in &self.faults {
            if !(f.nodes.contains(&from) || f.nodes.contains(&to)) {
                continue;
            }
            if let FaultKind::Partition { .. } = f.fault.kind
                && !(f.nodes.contains(&from) && f.nodes.contains(&to))
            {
                continue;
            }
            let (Some(start), end) = (
                *f.started_s.lock().unwrap_or_else(|p| p.into_inner()),
                *f.ended_s.lock().unwrap_or_else(|p| p.into_inner()),
            ) else {
                continue;
            };
            // Revocation: queries already under way when the CRLs were
            // reloaded may still finish; judge those sent half a second later.
            let grace = if let FaultKind::Revoke { .. } = f.fault.kind {
                0.5
            } else {
                0.0
            };
            if sent_at < start + grace {
                continue;
            }
            let after = end.is_some_and(|e| sent_at >= e + 1.0);
            let during = end.is_none_or(|e| sent_at < e);
            let w = &f.watch;
            match (during, after, answered) {
                (true, _, true) => w.answered_during.fetch_add(1, Ordering::Relaxed),
                (true, _, false) => w.failed_during.fetch_add(1, Ordering::Relaxed),
                (_, true, true) => w.answered_after.fetch_add(1, Ordering::Relaxed),
                (_, true, false) => w.failed_after.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
        }
    }
}

/// Start the node of `slot` on its address, retrying while the port is
/// still held, and publish what the workload needs of it.
pub(super) async fn start_node(slot: &Slot) -> Result<(), String> {
    let mut config = slot.config.clone();
    config.listen = slot.addr();
    let mut last = String::new();
    // The port of a stopped node may take a moment to be free again (a
    // connection still held by a task in flight keeps its endpoint open).
    for _ in 0..100 {
        match RunningNode::start(config.clone()).await {
            Ok(node) => {
                *slot.addr.write().unwrap_or_else(|p| p.into_inner()) = node.local_addr();
                *slot.live.write().unwrap_or_else(|p| p.into_inner()) = Some(Live {
                    transport: node.transport().clone(),
                    storage: node.storage().clone(),
                });
                *slot.running.lock().await = Some(node);
                return Ok(());
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("starting {}: {last}", slot.node.name))
}

/// Stop node `k` abruptly: unpublish it, drop its connections, shut it down.
pub(super) async fn stop_node(ctx: &Ctx, k: usize) {
    let slot = &ctx.slots[k];
    *slot.live.write().unwrap_or_else(|p| p.into_inner()) = None;
    ctx.evict_node(k);
    let node = slot.running.lock().await.take();
    if let Some(node) = node {
        node.shutdown().await;
    }
}
