//! The simulation: start the federation's nodes in this process on
//! loopback, drive a query workload from every node to every other, apply
//! the fault schedule, then export every log and run the auditor over all
//! of them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use credex_kit::relay::{Link, UdpRelay};
use credex_node::requester::{self, QuerySpec, Signer};
use credex_node::service::RunningNode;
use credex_node::storage::Storage;
use credex_node::transport::{PeerConnection, Transport};
use credex_protocol::RegionCode;
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, Outcome, QueryResponse, SubjectAuthorization, SubjectRef,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::faults::{Fault, FaultKind};
use crate::federation::{
    Federation, INTERNAL_PENALTY_FIELDS, LEGAL_BASIS, PENALTY_FIELDS, SimNode, TAX_FIELDS,
    TAX_RATING_EVERY,
};
use crate::malicious::MaliciousCounts;
use crate::report::{
    AuditResult, FaultReport, LatencySummary, MaliciousReport, PeerQuota, Report, SetupReport,
};

/// Weights of the query kinds in the workload.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QueryMix {
    /// Penalties for procurement/approval/joint punishment, citing a legal basis.
    pub basis: u32,
    /// Tax ratings for financing, with the subject's electronic authorization.
    pub authorized: u32,
    /// Penalties asking for internal fields too (trimmed by policy).
    pub overask: u32,
    /// The national node's upward-reporting queries.
    pub upward: u32,
}

impl Default for QueryMix {
    fn default() -> Self {
        QueryMix {
            basis: 70,
            authorized: 15,
            overask: 10,
            upward: 5,
        }
    }
}

impl std::str::FromStr for QueryMix {
    type Err = String;

    /// `basis=70,authorized=15,overask=10,upward=5` (missing kinds weigh 0).
    fn from_str(s: &str) -> Result<QueryMix, String> {
        let mut mix = QueryMix {
            basis: 0,
            authorized: 0,
            overask: 0,
            upward: 0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("--mix: {part:?} is not KIND=WEIGHT"))?;
            let v: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("--mix: weight of {k:?} is not a whole number"))?;
            match k.trim() {
                "basis" => mix.basis = v,
                "authorized" => mix.authorized = v,
                "overask" => mix.overask = v,
                "upward" => mix.upward = v,
                other => {
                    return Err(format!(
                        "--mix: unknown kind {other:?} (basis, authorized, overask, upward)"
                    ));
                }
            }
        }
        if mix.total() == 0 {
            return Err("--mix: all weights are 0".into());
        }
        Ok(mix)
    }
}

impl QueryMix {
    fn total(&self) -> u32 {
        self.basis + self.authorized + self.overask + self.upward
    }

    fn pick(&self, r: u32) -> Kind {
        let r = r % self.total();
        if r < self.basis {
            Kind::Basis
        } else if r < self.basis + self.authorized {
            Kind::Authorized
        } else if r < self.basis + self.authorized + self.overask {
            Kind::Overask
        } else {
            Kind::Upward
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Basis,
    Authorized,
    Overask,
    Upward,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Nodes: the national node and `regions - 1` provinces (3–32).
    pub regions: usize,
    /// Synthetic companies in total, spread over the provinces.
    pub subjects: u64,
    /// Measured seconds of workload.
    pub seconds: f64,
    /// Queries kept in flight.
    pub concurrency: usize,
    /// The query mix.
    pub mix: QueryMix,
    /// The fault schedule.
    pub faults: Vec<Fault>,
    /// All nodes on this PostgreSQL server (one schema each) instead of a
    /// SQLite file each.
    pub postgres: Option<String>,
    /// Where the report, plots and exported logs go.
    pub out: PathBuf,
    /// Keep the federation (certificates, configurations, databases) here
    /// instead of a temporary directory.
    pub keep: Option<PathBuf>,
    /// Seed of the workload's choices.
    pub seed: u64,
    /// A query without a verified answer after this long counts as failed
    /// (the requester gives up; the exchange may still have been logged by
    /// the responder, which the final audit then reports).
    pub request_timeout: Duration,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// The per-region ingress quota every node enforces (`[limits]`).
    pub peer_quota: PeerQuota,
}

/// A small deterministic generator (SplitMix64) for the workload's choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

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
    config: credex_node::config::NodeConfig,
    pub(crate) running: tokio::sync::Mutex<Option<RunningNode>>,
    live: RwLock<Option<Live>>,
    addr: RwLock<std::net::SocketAddr>,
    pub(crate) revoked: AtomicBool,
}

impl Slot {
    pub(crate) fn live(&self) -> Option<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn addr(&self) -> std::net::SocketAddr {
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
struct Watch {
    failed_during: AtomicU64,
    answered_during: AtomicU64,
    answered_after: AtomicU64,
    failed_after: AtomicU64,
}

struct FaultState {
    fault: Fault,
    nodes: Vec<usize>,
    watch: Watch,
    /// When the fault took effect (for revoke: CRLs reloaded everywhere), s.
    started_s: Mutex<Option<f64>>,
    ended_s: Mutex<Option<f64>>,
    notes: Mutex<Vec<String>>,
}

pub(crate) struct Ctx {
    fed: Federation,
    pub(crate) slots: Vec<Slot>,
    pub(crate) signers: Vec<Signers>,
    pub(crate) provinces: Vec<usize>,
    national: usize,
    mix: QueryMix,
    request_timeout: Duration,
    conns: Mutex<HashMap<(usize, usize), Arc<PeerConnection>>>,
    in_flight: Mutex<HashMap<(usize, usize), usize>>,
    backoff: Mutex<HashMap<(usize, usize), Instant>>,
    relays: HashMap<(usize, usize), UdpRelay>,
    faults: Vec<FaultState>,
    start: Instant,
    pub(crate) deadline: Instant,
    ok_per_s: Vec<AtomicU64>,
    failed_per_s: Vec<AtomicU64>,
    answered: AtomicU64,
    leaks: AtomicU64,
    pub(crate) malicious: Mutex<MaliciousCounts>,
    /// The per-region quota every node enforces.
    pub(crate) peer_quota: PeerQuota,
}

#[derive(Default)]
struct WorkerStats {
    latencies_us: Vec<u32>,
    outcomes: BTreeMap<String, u64>,
    unexpected: BTreeMap<String, u64>,
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

    fn bucket(&self, at: Instant) -> usize {
        let s = at.saturating_duration_since(self.start).as_secs() as usize;
        s.min(self.ok_per_s.len() - 1)
    }

    fn evict(&self, from: usize, to: usize) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(from, to));
    }

    fn evict_node(&self, k: usize) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(a, b), _| *a != k && *b != k);
    }

    /// The pairs with an open connection, as (from, to).
    fn open_pairs(&self) -> Vec<(usize, usize)> {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// The open connection of a pair, if it still has one.
    fn open_connection(&self, from: usize, to: usize) -> Option<Arc<PeerConnection>> {
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

    fn note(&self, from: usize, to: usize, sent_at: f64, answered: bool) {
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

    /// A query of `kind` from `from` to `to` about `subject`, signed and
    /// approved by `from`'s officers (for `Authorized`, with consent signed
    /// by the data owner's portal).
    pub(crate) fn build(
        &self,
        from: usize,
        to: usize,
        kind: Kind,
        subject: String,
        purpose: &str,
    ) -> Result<AuthorizedQuery, String> {
        let src = &self.slots[from].node;
        let dst = &self.slots[to].node;
        let fields = |f: &[&str]| f.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let (category, wanted, basis, authorization) = match kind {
            Kind::Basis => (
                "admin_penalty",
                fields(&PENALTY_FIELDS),
                Some(LEGAL_BASIS),
                None,
            ),
            Kind::Overask => {
                let mut f = fields(&PENALTY_FIELDS);
                f.extend(fields(&INTERNAL_PENALTY_FIELDS));
                ("admin_penalty", f, Some(LEGAL_BASIS), None)
            }
            Kind::Upward => ("admin_penalty", fields(&PENALTY_FIELDS), None, None),
            Kind::Authorized => {
                // Signed by the data owner's portal (decision 0640).
                let a = requester::issue_authorization(
                    &self.signers[to].portal,
                    financing_consent(&subject, src.region),
                )
                .map_err(|e| e.to_string())?;
                ("tax_credit_rating", fields(&TAX_FIELDS), None, Some(a))
            }
        };
        let spec = QuerySpec {
            target_region: dst.region,
            subject: SubjectRef::LegalPerson(subject),
            purpose: purpose.to_owned(),
            requested: vec![CategoryFields {
                category: category.to_owned(),
                fields: wanted,
            }],
            legal_basis: basis.map(str::to_owned),
            subject_authorization: authorization,
        };
        self.sign(from, spec)
    }

    /// `spec` drafted and signed by node `from`'s requester, approved by its
    /// approver: a properly authorized query.
    pub(crate) fn sign(&self, from: usize, spec: QuerySpec) -> Result<AuthorizedQuery, String> {
        let src = &self.slots[from].node;
        let s = &self.signers[from];
        let mut file = requester::draft_and_sign(
            src.region,
            src.name.clone(),
            spec,
            &s.requester,
            SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        requester::approve(&mut file, &s.approver).map_err(|e| e.to_string())?;
        file.authorized().map_err(|e| e.to_string())
    }

    /// A random query of the mix: (from, to, kind, query).
    /// Reserve one of a pair's in-flight places, if it has one free.
    fn reserve(self: &Arc<Self>, from: usize, to: usize) -> Option<PairSlot> {
        let mut m = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry((from, to)).or_default();
        if *n >= PAIR_IN_FLIGHT {
            return None;
        }
        *n += 1;
        Some(PairSlot {
            ctx: Arc::clone(self),
            pair: (from, to),
        })
    }

    /// A random query of the mix whose pair has a free in-flight place:
    /// (from, to, kind, query, reservation); None if the draws found none.
    #[allow(clippy::type_complexity)]
    fn random_query(
        self: &Arc<Self>,
        rng: &mut Rng,
    ) -> Result<Option<(usize, usize, Kind, AuthorizedQuery, PairSlot)>, String> {
        let mut kind = self.mix.pick(rng.next_u64() as u32);
        let to = self.provinces[rng.below(self.provinces.len())];
        let from = if kind == Kind::Upward {
            self.national
        } else {
            // Any other province.
            let mut f = self.provinces[rng.below(self.provinces.len())];
            if f == to {
                f = self.provinces[(self.provinces.iter().position(|&p| p == to).unwrap_or(0) + 1)
                    % self.provinces.len()];
            }
            f
        };
        let Some(reservation) = self.reserve(from, to) else {
            return Ok(None);
        };
        let target = &self.slots[to].node;
        let mut i = rng.below(target.subjects.max(1) as usize) as u32;
        if kind == Kind::Authorized {
            // Subjects with a tax rating: every TAX_RATING_EVERY-th.
            let rated = target.subjects / TAX_RATING_EVERY;
            if rated == 0 {
                kind = Kind::Basis;
            } else {
                i = (rng.below(rated as usize) as u32 + 1) * TAX_RATING_EVERY - 1;
            }
        }
        let purpose = match kind {
            Kind::Basis | Kind::Overask => [
                "public_procurement",
                "administrative_approval",
                "joint_punishment",
            ][rng.below(3)],
            Kind::Authorized => "financing",
            Kind::Upward => "upward_reporting",
        };
        let q = self.build(from, to, kind, target.subject(i), purpose)?;
        Ok(Some((from, to, kind, q, reservation)))
    }
}

/// A subject's consent to `grantee` reading its tax rating for
/// `financing`, valid for an hour, once: the scope the `authorized` kind
/// asks under (unsigned).
pub(crate) fn financing_consent(subject: &str, grantee: RegionCode) -> SubjectAuthorization {
    let now = credex_node::query::unix_ms(SystemTime::now());
    SubjectAuthorization {
        authorization_id: requester::random_id(),
        subject: SubjectRef::LegalPerson(subject.to_owned()),
        grantee_region: grantee,
        purposes: vec!["financing".to_owned()],
        categories: vec!["tax_credit_rating".to_owned()],
        not_before_ms: now - 60_000,
        not_after_ms: now + 3_600_000,
        max_uses: 1,
    }
}

/// Most queries in flight between one requester and one responder: a
/// bulkhead, so a hung pair (partitioned, or its peer down) holds at most
/// this many of the workload's places while the others go on.
const PAIR_IN_FLIGHT: usize = 4;

/// One reserved in-flight place of a pair, released on drop.
struct PairSlot {
    ctx: Arc<Ctx>,
    pair: (usize, usize),
}

impl Drop for PairSlot {
    fn drop(&mut self) {
        let mut m = self.ctx.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.pair) {
            *n = n.saturating_sub(1);
        }
    }
}

async fn worker(ctx: Arc<Ctx>, mut rng: Rng) -> WorkerStats {
    let mut stats = WorkerStats::default();
    while Instant::now() < ctx.deadline {
        let (from, to, kind, query, _slot) = match ctx.random_query(&mut rng) {
            Ok(Some(x)) => x,
            Ok(None) => {
                *stats
                    .outcomes
                    .entry("deferred: pair at its in-flight cap".into())
                    .or_default() += 1;
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => {
                *stats
                    .outcomes
                    .entry(format!("build error: {e}"))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let sent = Instant::now();
        let sent_s = ctx.elapsed_s();
        let result = ctx.send(from, to, &query).await;
        let bucket = ctx.bucket(sent);
        match result {
            Err(Failure::RequesterDown) => {
                // A stopped node sends nothing; let the others go on.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(Failure::Unreachable(why)) => {
                ctx.failed_per_s[bucket].fetch_add(1, Ordering::Relaxed);
                ctx.note(from, to, sent_s, false);
                let class = if why.starts_with("backing off") {
                    "unreachable: backing off"
                } else {
                    "unreachable: dial failed"
                };
                *stats.outcomes.entry(class.into()).or_default() += 1;
                // Do not spin on a pair that is backing off.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(Failure::Failed(e)) => {
                ctx.failed_per_s[bucket].fetch_add(1, Ordering::Relaxed);
                ctx.note(from, to, sent_s, false);
                let class = if e.contains("rate_limited") {
                    // The malicious node's own queries while it floods.
                    "failed: rate limited"
                } else if e.contains("timed out") {
                    "failed: timeout"
                } else if e.contains("closed") || e.contains("lost") || e.contains("reset") {
                    "failed: connection lost"
                } else {
                    "failed: other"
                };
                *stats.outcomes.entry(class.into()).or_default() += 1;
            }
            Ok(r) => {
                let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                stats.latencies_us.push(us);
                ctx.ok_per_s[bucket].fetch_add(1, Ordering::Relaxed);
                ctx.answered.fetch_add(1, Ordering::Relaxed);
                ctx.note(from, to, sent_s, true);
                let outcome = match r.body.outcome {
                    Outcome::Denied => format!("denied/{:?}", r.body.reason),
                    o => format!("{o:?}").to_lowercase(),
                };
                let leaked = r.body.released.iter().any(|c| {
                    c.fields
                        .iter()
                        .any(|f| INTERNAL_PENALTY_FIELDS.contains(&f.as_str()))
                });
                if leaked {
                    ctx.leaks.fetch_add(1, Ordering::Relaxed);
                }
                let expected = match kind {
                    Kind::Basis | Kind::Authorized | Kind::Upward => {
                        r.body.outcome == Outcome::Granted
                    }
                    Kind::Overask => r.body.outcome == Outcome::Trimmed,
                };
                if !expected {
                    *stats
                        .unexpected
                        .entry(format!("{kind:?} → {outcome}"))
                        .or_default() += 1;
                }
                *stats.outcomes.entry(outcome).or_default() += 1;
            }
        }
    }
    stats
}

async fn start_node(slot: &Slot) -> Result<(), String> {
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

async fn stop_node(ctx: &Ctx, k: usize) {
    let slot = &ctx.slots[k];
    *slot.live.write().unwrap_or_else(|p| p.into_inner()) = None;
    ctx.evict_node(k);
    let node = slot.running.lock().await.take();
    if let Some(node) = node {
        node.shutdown().await;
    }
}

async fn run_fault(ctx: Arc<Ctx>, i: usize, shutdown: CancellationToken) -> Result<(), String> {
    let f = &ctx.faults[i];
    let at = ctx.start + f.fault.at;
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = tokio::time::sleep_until(at.into()) => {}
    }
    let begin = |s: &FaultState| {
        *s.started_s.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.elapsed_s());
    };
    let end = |s: &FaultState| {
        *s.ended_s.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.elapsed_s());
    };
    let until = at + f.fault.duration;
    match &f.fault.kind {
        FaultKind::Kill { .. } => {
            let k = f.nodes[0];
            begin(f);
            stop_node(&ctx, k).await;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
            start_node(&ctx.slots[k]).await?;
            end(f);
        }
        FaultKind::Partition { .. } => {
            let (a, b) = (f.nodes[0], f.nodes[1]);
            let relays: Vec<&UdpRelay> = [(a, b), (b, a)]
                .iter()
                .filter_map(|p| ctx.relays.get(p))
                .collect();
            begin(f);
            for r in &relays {
                r.set(Link::Partitioned);
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
            for r in &relays {
                r.set(Link::Open);
            }
            end(f);
            let dropped: u64 = relays.iter().map(|r| r.dropped()).sum();
            f.notes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("relay dropped {dropped} datagrams"));
        }
        FaultKind::Revoke { .. } => {
            let k = f.nodes[0];
            let node = &ctx.slots[k].node;
            let ca = ctx.fed.ca(node.region);
            let revoked = tokio::task::block_in_place(|| ca.revoke(&node.cert))
                .map_err(|e| format!("revoking {}: {e}", node.name))?;
            let mut closed = 0;
            for slot in &ctx.slots {
                let guard = slot.running.lock().await;
                if let Some(n) = guard.as_ref() {
                    closed += n
                        .reload_crls()
                        .await
                        .map_err(|e| format!("{}: reloading CRLs: {e}", slot.node.name))?;
                }
            }
            ctx.slots[k].revoked.store(true, Ordering::SeqCst);
            ctx.evict_node(k);
            begin(f);
            f.notes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!(
                    "revoked {} (serial {}); CRL reload closed {closed} live connections",
                    revoked.subject,
                    hex_serial(&revoked.serial)
                ));
        }
        FaultKind::Malicious { .. } => {
            begin(f);
            crate::malicious::run(
                Arc::clone(&ctx),
                f.nodes[0],
                until,
                Rng::new(f.fault.at.as_nanos() as u64),
            )
            .await;
            end(f);
        }
    }
    Ok(())
}

/// Whether the fault was seen to take effect (and, where it ends, that the
/// federation recovered), in words.
fn judge(
    mut r: FaultReport,
    f: &FaultState,
    ctx: &Ctx,
    m: &MaliciousCounts,
    tamper: &[crate::report::TamperReport],
) -> FaultReport {
    let (observed, verdict) = match &f.fault.kind {
        FaultKind::Kill { .. } => (
            r.failed_during > 0 && r.answered_after > 0,
            format!(
                "{} queries involving the node failed while it was down; {} answered after the restart",
                r.failed_during, r.answered_after
            ),
        ),
        FaultKind::Partition { .. } => {
            let dropped: u64 = [(f.nodes[0], f.nodes[1]), (f.nodes[1], f.nodes[0])]
                .iter()
                .filter_map(|p| ctx.relays.get(p))
                .map(|r| r.dropped())
                .sum();
            (
                dropped > 0 && r.answered_after > 0,
                format!(
                    "the relay dropped {dropped} datagrams; {} queries between the two were sent during the window \
                     ({} answered once it healed, {} failed); {} answered after",
                    r.failed_during + r.answered_during,
                    r.answered_during,
                    r.failed_during,
                    r.answered_after
                ),
            )
        }
        FaultKind::Revoke { .. } => (
            r.started_s.is_some() && r.failed_during > 0 && r.answered_during == 0,
            format!(
                "{} queries to or from the revoked node were refused after the CRL reload; {} were answered",
                r.failed_during, r.answered_during
            ),
        ),
        FaultKind::Malicious { .. } => {
            let attempts: u64 = m.attempts.values().sum();
            let refused: u64 = m.refused.values().sum();
            let floods_ok = !m.floods.is_empty() && m.floods.iter().all(|f| f.ok);
            let throttled: u64 = m.floods.iter().map(|f| f.throttled).sum();
            let caught = !tamper.is_empty() && tamper.iter().all(|t| t.caught_all());
            (
                attempts > 0 && refused == attempts && floods_ok && caught,
                format!(
                    "{refused} of {attempts} malicious queries refused (over-asked fields withheld; forgeries, replays and \
                     consents of the wrong authority or attached late denied); flood: {throttled} requests throttled, \
                     none logged{}; log tampering {}",
                    if floods_ok {
                        ""
                    } else {
                        " — NOT as expected"
                    },
                    if caught {
                        "caught by the audit"
                    } else {
                        "NOT caught"
                    }
                ),
            )
        }
    };
    r.observed = observed;
    r.verdict = verdict;
    r
}

fn hex_serial(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

fn latency_summary(mut v: Vec<u32>) -> LatencySummary {
    v.sort_unstable();
    let pct = |p: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        f64::from(v[rank - 1]) / 1e3
    };
    LatencySummary {
        count: v.len() as u64,
        p50_ms: pct(0.5),
        p90_ms: pct(0.9),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: pct(1.0),
        histogram_ms: crate::report::histogram(&v),
    }
}

/// Run a simulation and return its report (the audit's verdict included).
pub async fn run(opts: &SimOptions) -> anyhow::Result<Report> {
    use anyhow::Context as _;
    if opts.concurrency == 0 || opts.concurrency > 4096 {
        anyhow::bail!("--concurrency: expected 1–4096");
    }
    let q = opts.peer_quota;
    if !(1..=1_000_000).contains(&q.requests_per_second) || !(1..=10_000_000).contains(&q.burst) {
        anyhow::bail!(
            "--peer-rate / --peer-burst: expected 1–1,000,000 requests/s and a burst of 1–10,000,000 (the node's [limits] bounds)"
        );
    }
    if !(opts.seconds > 0.0 && opts.seconds <= 3600.0) {
        anyhow::bail!("--seconds: expected more than 0 and at most 3600");
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let tmp;
    let dir = match &opts.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_owned()
        }
    };
    let t0 = Instant::now();
    eprintln!(
        "credex-sim: creating a federation of {} nodes in {}…",
        opts.regions,
        dir.display()
    );
    let fed =
        tokio::task::block_in_place(|| Federation::create(&dir, opts.regions, opts.subjects))?;
    let pki_s = t0.elapsed().as_secs_f64();

    // Check the fault schedule names real nodes.
    let index_of = |name: &str| {
        fed.nodes
            .iter()
            .position(|n| n.name.as_str() == name)
            .with_context(|| {
                format!(
                    "a fault names node {name:?}, which is not in this federation ({})",
                    fed.nodes
                        .iter()
                        .map(|n| n.name.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    let mut fault_nodes = Vec::new();
    for f in &opts.faults {
        let nodes = f
            .nodes()
            .into_iter()
            .map(index_of)
            .collect::<anyhow::Result<Vec<usize>>>()?;
        if matches!(
            f.kind,
            FaultKind::Malicious { .. } | FaultKind::Revoke { .. }
        ) && nodes.iter().any(|&n| fed.nodes[n].is_national())
        {
            anyhow::bail!(
                "{}: pick a province node, the national node sends only upward queries",
                f.label()
            );
        }
        fault_nodes.push(nodes);
    }

    let t1 = Instant::now();
    eprintln!("credex-sim: starting {} nodes…", fed.nodes.len());
    // Names this run's PostgreSQL schemas: seconds since the epoch, base 36.
    let run_id = {
        let mut n = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut id = String::new();
        while n > 0 {
            let d = (n % 36) as u8;
            id.insert(0, char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
            n /= 36;
        }
        id
    };
    if opts.postgres.is_some() {
        eprintln!("credex-sim: PostgreSQL schemas credex_sim_{run_id}_<node>");
    }
    let mut slots = Vec::new();
    let mut signers = Vec::new();
    for node in &fed.nodes {
        let config = node
            .load_config(opts.postgres.as_deref(), &run_id, opts.peer_quota)
            .with_context(|| format!("configuration of {}", node.name))?;
        signers.push(Signers {
            requester: fed.signer(node.region, "req-1")?,
            approver: fed.signer(node.region, "apv-1")?,
            portal: fed.signer(node.region, "portal")?,
        });
        let slot = Slot {
            node: node.clone(),
            addr: RwLock::new(config.listen),
            config,
            running: tokio::sync::Mutex::new(None),
            live: RwLock::new(None),
            revoked: AtomicBool::new(false),
        };
        start_node(&slot).await.map_err(anyhow::Error::msg)?;
        slots.push(slot);
    }
    let start_s = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    eprintln!(
        "credex-sim: importing {} synthetic companies…",
        opts.subjects
    );
    let mut imported = 0u64;
    {
        let mut tasks = tokio::task::JoinSet::new();
        for slot in &slots {
            let guard = slot.running.lock().await;
            let Some(n) = guard.as_ref() else { continue };
            let storage = n.storage().clone();
            let catalogue = n.queries().policy().catalogue().clone();
            let node = slot.node.clone();
            tasks.spawn(async move {
                crate::federation::import_subjects(&node, &storage, &catalogue).await
            });
            // Two imports at a time: the machine has few cores.
            if tasks.len() >= 2
                && let Some(r) = tasks.join_next().await
            {
                imported += r.context("import task")??;
            }
        }
        while let Some(r) = tasks.join_next().await {
            imported += r.context("import task")??;
        }
    }
    let import_s = t2.elapsed().as_secs_f64();

    // Relays for every partitioned pair, both directions, before any dial.
    let shutdown = CancellationToken::new();
    let mut relays = HashMap::new();
    for (f, nodes) in opts.faults.iter().zip(&fault_nodes) {
        if let FaultKind::Partition { .. } = f.kind {
            for (from, to) in [(nodes[0], nodes[1]), (nodes[1], nodes[0])] {
                if let std::collections::hash_map::Entry::Vacant(e) = relays.entry((from, to)) {
                    e.insert(UdpRelay::start_until(slots[to].addr(), &shutdown).await?);
                }
            }
        }
    }

    let provinces: Vec<usize> = (0..slots.len())
        .filter(|&i| !slots[i].node.is_national())
        .collect();
    let national = (0..slots.len())
        .find(|&i| slots[i].node.is_national())
        .context("the federation has no national node")?;
    let buckets = opts.seconds.ceil() as usize + 120;
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        fed,
        signers,
        provinces,
        national,
        mix: opts.mix,
        request_timeout: opts.request_timeout,
        conns: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashMap::new()),
        backoff: Mutex::new(HashMap::new()),
        relays,
        faults: opts
            .faults
            .iter()
            .zip(fault_nodes)
            .map(|(f, nodes)| FaultState {
                fault: f.clone(),
                nodes,
                watch: Watch::default(),
                started_s: Mutex::new(None),
                ended_s: Mutex::new(None),
                notes: Mutex::new(Vec::new()),
            })
            .collect(),
        start,
        deadline: start + Duration::from_secs_f64(opts.seconds),
        ok_per_s: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        failed_per_s: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        answered: AtomicU64::new(0),
        leaks: AtomicU64::new(0),
        malicious: Mutex::new(MaliciousCounts::default()),
        peer_quota: opts.peer_quota,
        slots,
    });

    // Connect every pair the workload uses before the clock starts.
    {
        let mut pairs = Vec::new();
        for &to in &ctx.provinces {
            for from in std::iter::once(ctx.national).chain(ctx.provinces.iter().copied()) {
                if from != to {
                    pairs.push((from, to));
                }
            }
        }
        eprintln!("credex-sim: connecting {} pairs of nodes…", pairs.len());
        let mut dials = tokio::task::JoinSet::new();
        for (from, to) in pairs {
            let ctx = Arc::clone(&ctx);
            dials.spawn(async move {
                let live = ctx.slots[from].live()?;
                ctx.connection(from, to, &live).await.ok()
            });
            if dials.len() >= 16 {
                let _ = dials.join_next().await;
            }
        }
        while dials.join_next().await.is_some() {}
    }
    let start = Instant::now();
    let ctx = {
        let mut c = Arc::try_unwrap(ctx)
            .map_err(|_| anyhow::anyhow!("the workload context is still shared before the run"))?;
        c.start = start;
        c.deadline = start + Duration::from_secs_f64(opts.seconds);
        Arc::new(c)
    };
    eprintln!(
        "credex-sim: {} queries in flight for {} s, {} fault(s)…",
        opts.concurrency,
        opts.seconds,
        opts.faults.len()
    );
    let bar = if opts.progress {
        indicatif::ProgressBar::new((opts.seconds * 10.0) as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut fault_tasks = tokio::task::JoinSet::new();
    for i in 0..ctx.faults.len() {
        let (ctx, stop) = (Arc::clone(&ctx), shutdown.clone());
        fault_tasks.spawn(async move { run_fault(ctx, i, stop).await });
    }
    let witnessing = {
        let (ctx, stop) = (Arc::clone(&ctx), shutdown.clone());
        tokio::spawn(async move { witness_while_running(&ctx, &stop).await })
    };
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..opts.concurrency {
        let ctx = Arc::clone(&ctx);
        let rng = Rng::new(opts.seed.wrapping_mul(1_000_003).wrapping_add(w as u64));
        workers.spawn(worker(ctx, rng));
    }
    {
        let ctx = Arc::clone(&ctx);
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut n = 0u64;
            while Instant::now() < ctx.deadline {
                tick.tick().await;
                n += 1;
                bar.set_position(n);
                if n.is_multiple_of(10) {
                    let now = ctx.answered.load(Ordering::Relaxed);
                    let active: Vec<String> = ctx
                        .faults
                        .iter()
                        .filter(|f| {
                            f.started_s.lock().is_ok_and(|s| s.is_some())
                                && f.ended_s.lock().is_ok_and(|e| e.is_none())
                        })
                        .map(|f| f.fault.label())
                        .collect();
                    bar.set_message(format!(
                        "{} answered, {} q/s{}",
                        now,
                        now - last,
                        if active.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", active.join(", "))
                        }
                    ));
                    last = now;
                }
            }
        });
    }
    let mut stats = WorkerStats::default();
    while let Some(w) = workers.join_next().await {
        let w = w.context("a workload task panicked")?;
        stats.latencies_us.extend(w.latencies_us);
        for (k, v) in w.outcomes {
            *stats.outcomes.entry(k).or_default() += v;
        }
        for (k, v) in w.unexpected {
            *stats.unexpected.entry(k).or_default() += v;
        }
    }
    let measured_s = ctx.elapsed_s();
    bar.finish_and_clear();
    // Faults still pending (scheduled beyond the end) stop now; a killed
    // node is restarted so its log can be exported.
    shutdown.cancel();
    while let Some(r) = fault_tasks.join_next().await {
        r.context("a fault task panicked")?
            .map_err(anyhow::Error::msg)?;
    }
    witnessing.await.context("the witnessing task panicked")?;
    for slot in &ctx.slots {
        if slot.live().is_none() {
            start_node(slot).await.map_err(anyhow::Error::msg)?;
        }
    }
    // The malicious nodes' operators tamper with their own logs (for the
    // final audit to catch).
    let mut tamper = Vec::new();
    for f in &ctx.faults {
        let started = f.started_s.lock().is_ok_and(|s| s.is_some());
        if let FaultKind::Malicious { .. } = f.fault.kind
            && started
        {
            eprintln!(
                "credex-sim: the operator of {} rewrites and replays entries of its log…",
                ctx.slots[f.nodes[0]].node.name
            );
            tamper.push(crate::malicious::tamper_with_log(&ctx, f.nodes[0]).await);
        }
    }
    ctx.conns.lock().unwrap_or_else(|p| p.into_inner()).clear();

    // Export every log and audit them all.
    eprintln!(
        "credex-sim: exporting {} logs and auditing…",
        ctx.slots.len()
    );
    let t3 = Instant::now();
    let logs_dir = opts.out.join("logs");
    let _ = std::fs::remove_dir_all(&logs_dir);
    let mut dirs = Vec::new();
    for slot in &ctx.slots {
        let guard = slot.running.lock().await;
        let Some(n) = guard.as_ref() else { continue };
        let chain = std::fs::read_to_string(&slot.node.cert)
            .with_context(|| format!("reading {}", slot.node.cert.display()))?;
        let out = logs_dir.join(slot.node.name.as_str());
        credex_node::export::export(n.storage(), n.log_key(), &chain, &out)
            .await
            .with_context(|| format!("exporting the log of {}", slot.node.name))?;
        dirs.push(out);
    }
    let root_pem = std::fs::read_to_string(ctx.fed.root().cert_path())
        .context("reading the federation root")?;
    let trust = credex_pki::TrustStore::from_pem(&root_pem, &[])
        .context("the federation root does not load")?;
    let audit = tokio::task::block_in_place(|| credex_audit::verify(&dirs, &trust));
    let audit_s = t3.elapsed().as_secs_f64();
    let mut no_answer = 0;
    for slot in &ctx.slots {
        if let Some(n) = slot.running.lock().await.as_ref() {
            no_answer += count_no_answers(n.storage()).await?;
        }
    }
    let (caught, unexplained) = crate::malicious::classify(&audit.violations, &mut tamper);
    let audit_result = AuditResult {
        logs: dirs.len(),
        entries: audit.entries,
        violations: audit.violations.len(),
        caught: caught.len(),
        unexplained: unexplained.len(),
        listed: unexplained.into_iter().take(50).collect(),
        caught_listed: caught.into_iter().take(20).collect(),
        answers_lost: audit.answers_lost.len(),
        no_answer,
        seconds: audit_s,
        passed: false,
    };

    for slot in &ctx.slots {
        let node = slot.running.lock().await.take();
        if let Some(n) = node {
            n.shutdown().await;
        }
    }

    let answered = stats.latencies_us.len() as u64;
    let per_s = |v: &[AtomicU64]| -> Vec<u64> {
        v.iter()
            // Whole seconds only: a last partial second would read as a drop.
            .take(measured_s.floor() as usize)
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    };
    let faults = ctx
        .faults
        .iter()
        .map(|f| FaultReport {
            fault: f.fault.clone(),
            label: f.fault.label(),
            started_s: *f.started_s.lock().unwrap_or_else(|p| p.into_inner()),
            ended_s: *f.ended_s.lock().unwrap_or_else(|p| p.into_inner()),
            failed_during: f.watch.failed_during.load(Ordering::Relaxed),
            answered_during: f.watch.answered_during.load(Ordering::Relaxed),
            answered_after: f.watch.answered_after.load(Ordering::Relaxed),
            failed_after: f.watch.failed_after.load(Ordering::Relaxed),
            notes: f.notes.lock().map(|n| n.clone()).unwrap_or_default(),
            observed: false,
            verdict: String::new(),
        })
        .collect::<Vec<_>>();
    let m = ctx.malicious.lock().unwrap_or_else(|p| p.into_inner());
    let faults = faults
        .into_iter()
        .zip(&ctx.faults)
        .map(|(r, f)| judge(r, f, &ctx, &m, &tamper))
        .collect::<Vec<_>>();
    let malicious = MaliciousReport {
        attempts: m.attempts.clone(),
        refused: m.refused.clone(),
        accepted: m.accepted.clone(),
        reasons: m.reasons.clone(),
        unreachable: m.unreachable,
        floods: m.floods.clone(),
        tamper,
    };
    drop(m);
    let mut report = Report {
        regions: opts.regions,
        nodes: ctx.slots.iter().map(|s| s.node.name.to_string()).collect(),
        subjects: opts.subjects,
        concurrency: opts.concurrency,
        mix: opts.mix,
        peer_quota: opts.peer_quota,
        storage: if opts.postgres.is_some() {
            "PostgreSQL, one schema per node".into()
        } else {
            "SQLite, one file per node".into()
        },
        seed: opts.seed,
        setup: SetupReport {
            pki_s,
            start_s,
            records_imported: imported,
            import_s,
        },
        seconds: measured_s,
        answered,
        answered_per_s: answered as f64 / measured_s.max(1e-9),
        outcomes: stats.outcomes,
        unexpected: stats.unexpected,
        internal_fields_leaked: ctx.leaks.load(Ordering::Relaxed),
        latency: latency_summary(stats.latencies_us),
        answered_per_second: per_s(&ctx.ok_per_s),
        failed_per_second: per_s(&ctx.failed_per_s),
        faults,
        malicious,
        audit: audit_result,
        passed: false,
    };
    report.audit.passed = report.audit.unexplained == 0
        && report.audit.logs == report.nodes.len()
        && report.malicious.tamper.iter().all(|t| t.caught_all());
    report.passed = report.audit.passed
        && report.internal_fields_leaked == 0
        && report.malicious.accepted.values().all(|&v| v == 0)
        && report.faults.iter().all(|f| f.observed);
    Ok(report)
}

/// How many queries `storage`'s node logged as about to be sent and never
/// logged an answer for: those it logged "no answer" for, and those a
/// timeout cancelled before it could (decision 0620).
async fn count_no_answers(storage: &credex_node::storage::Storage) -> anyhow::Result<u64> {
    use credex_journal::kind;
    let len = storage.journal_len().await?;
    let (mut at, mut intents, mut answered) = (0, 0u64, 0u64);
    while at < len {
        let page = storage.journal_range(at, 4096).await?;
        if page.is_empty() {
            break;
        }
        at += page.len() as u64;
        for r in &page {
            match r.kind {
                kind::QUERY_INTENT => intents += 1,
                kind::QUERY_SENT => answered += 1,
                _ => {}
            }
        }
    }
    Ok(intents.saturating_sub(answered))
}

/// Peers witness each other's logs as nodes do in production
/// (`dial_peers_in_background`): every second, each node asks the peers it
/// holds a connection to to cosign its newest checkpoint. What anchors each
/// log for the final audit. Failures (a node down, partitioned or revoked)
/// are the faults' business: the next round tries again.
async fn witness_while_running(ctx: &Ctx, stop: &CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Each connection is looked up just before use and dropped after:
        // a round holding every connection would keep a killed node's
        // endpoint, and so its UDP port, alive until the round ends, and
        // its restart on that port would fail.
        for (from, to) in ctx.open_pairs() {
            let guard = ctx.slots[from].running.lock().await;
            if let (Some(node), Some(conn)) = (guard.as_ref(), ctx.open_connection(from, to)) {
                // Bounded, so a kill fault waiting for the lock is not held up.
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    node.request_cosignature(&conn, 0),
                )
                .await;
            }
        }
    }
}
