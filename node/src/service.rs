//! The running node: loads its configuration's credentials, trust and
//! storage, serves peers, reloads CRLs, and shuts down cleanly.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::boot::{NodeIdentity, read_crls, record_policy_load};
pub use crate::boot::{
    StartError, client_transport, client_transport_with, load_trust, open_storage,
};
use crate::config::{NodeConfig, PeerConfig, TlsFiles};
use crate::gateway::{Gateway, GatewayParts, GatewayState};
use crate::query::QueryService;
use crate::storage::Storage;
use crate::tls::FederationTrust;
use crate::transport::{ClientError, PeerConnection, Transport};

mod handler;
pub mod runtime;
pub use handler::NodeHandler;

/// Unix time in milliseconds, by the system clock ([`crate::clock`]).
pub use crate::clock::now_ms;

/// A started node. Dropping it does not stop it; call [`RunningNode::shutdown`].
pub struct RunningNode {
    queries: Arc<QueryService>,
    federation: crate::federation::Federation,
    log_key: Arc<crate::log::LogKey>,
    /// The message-signing chain (PEM) under `sm2-sm3`, exported too.
    signing_chain_pem: Option<String>,
    checkpoints: crate::log::Checkpoints,
    config: NodeConfig,
    transport: Transport,
    storage: Storage,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    crl_state: Arc<tokio::sync::Mutex<Vec<Vec<u8>>>>,
    gateway: Option<Gateway>,
    console: Option<crate::console::Console>,
    /// Set once the tasks are spawned.
    duties: Arc<std::sync::OnceLock<crate::duties::Duties>>,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("transport", &self.transport)
            .finish()
    }
}

/// Open the store, confirm its log holds what the log published (before
/// anything is appended or signed: [`crate::log::head`]), journal the
/// policy the node starts with, and bring the subject aliases in line with
/// the pseudonym key ring.
async fn open_store(
    config: &NodeConfig,
    policy: &credex_policies::PolicySet,
    identity: &NodeIdentity,
) -> Result<Storage, StartError> {
    let storage = open_storage(config).await?;
    let confirmed = crate::log::head::confirm_at_start(config, &storage, &identity.log_key, || {
        crate::boot::client_transport_with(config, identity.credentials.clone())
    })
    .await;
    if let Err(e) = confirmed {
        storage.close().await;
        return Err(e);
    }
    record_policy_load(&storage, policy, &config.policy).await?;
    let persons =
        crate::pseudonyms::NaturalPersons::load(config, &ring::rand::SystemRandom::new())?;
    if let Some(r) = crate::pseudonyms::check_at_start(
        config,
        &storage,
        persons.as_ref(),
        storage.clock().now_ms(),
    )
    .await?
    {
        tracing::info!(
            persons = r.persons,
            epochs_added = ?r.epochs_added,
            aliases_added = r.aliases_added,
            epochs_dropped = ?r.epochs_dropped,
            "subject aliases match the pseudonym key ring"
        );
    }
    Ok(storage)
}

/// Journal the certificate and log key this node signs with from now on.
async fn record_key_in_use(
    storage: &Storage,
    creds: &crate::tls::NodeCredentials,
    log_key: &crate::log::LogKey,
) -> Result<(), StartError> {
    let key_entry = credex_journal::KeyInUse {
        version: credex_journal::ENTRY_VERSION,
        at_ms: storage.clock().now_ms(),
        certificate_fingerprint: creds.identity.fingerprint,
        identity: creds.identity.subject.to_uri(),
        log_verifier_key: log_key.verifier().to_string(),
    };
    storage.append_entry(&key_entry).await?;
    Ok(())
}

impl RunningNode {
    /// Start a node: load credentials and trust, open storage, bind the
    /// endpoint and serve until [`RunningNode::shutdown`].
    pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
        let identity = NodeIdentity::load(&config)?;
        let trust = load_trust(&config.tls)?;
        identity.check_suite(trust.suite(), &config)?;
        crate::boot::check_ring_suite(&config, trust.suite())?;
        let trust = FederationTrust::new(trust);
        let policy = crate::query::load_policy(config.region, &config.policy)?;
        let storage = open_store(&config, &policy, &identity).await?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let NodeIdentity {
            credentials: creds,
            signing_key,
            chain,
            chain_pem,
            signing_chain_pem,
            log_key,
        } = identity;
        let checkpoints = crate::log::Checkpoints::spawn(
            storage.clone(),
            Arc::clone(&log_key),
            Some(config.data_dir.join(crate::log::head::HEAD_FILE)),
            &tracker,
            shutdown.clone(),
        )
        .await?;
        record_key_in_use(&storage, &creds, &log_key).await?;
        let queries = Arc::new(QueryService::new(
            &config,
            policy,
            trust.clone(),
            storage.clone(),
            Arc::clone(&signing_key),
            chain.clone(),
            checkpoints.clone(),
        ));
        let https_creds =
            (config.gateway.is_some() || config.console.is_some()).then(|| creds.clone());
        let transport = Transport::bind(config.listen, creds, trust, config.transport.clone())?;
        let federation = crate::federation::Federation::new(crate::federation::FederationContext {
            storage: storage.clone(),
            checkpoints: checkpoints.clone(),
            region: config.region,
            node: config.name.clone(),
            node_key: signing_key,
            chain,
            trust: transport.trust().clone(),
            peers: crate::federation::PeerPool::new(transport.clone(), &config.peers),
        });
        crate::flows::register(&federation, &config, queries.policy())?;
        let (gateway, console) = match https_creds {
            Some(creds) => {
                let node = GatewayState::new(GatewayParts {
                    config: config.clone(),
                    storage: storage.clone(),
                    queries: Arc::clone(&queries),
                    federation: federation.clone(),
                    tracker: tracker.clone(),
                    checkpoints: checkpoints.clone(),
                    chain_pem: chain_pem.clone(),
                    signing_chain_pem: signing_chain_pem.clone(),
                    persons: crate::pseudonyms::NaturalPersons::load(
                        &config,
                        &ring::rand::SystemRandom::new(),
                    )?
                    .map(Arc::new),
                });
                let trust = transport.trust().clone();
                let gateway = match &config.gateway {
                    Some(gw) => Some(
                        Gateway::start(
                            gw,
                            node.clone(),
                            &creds,
                            trust.clone(),
                            &tracker,
                            shutdown.clone(),
                        )
                        .await?,
                    ),
                    None => None,
                };
                let console = match &config.console {
                    Some(c) => Some(
                        crate::console::Console::start(
                            c,
                            &creds,
                            trust,
                            node,
                            &tracker,
                            shutdown.clone(),
                        )
                        .await?,
                    ),
                    None => None,
                };
                (gateway, console)
            }
            None => (None, None),
        };
        let handler = Arc::new(NodeHandler {
            hello: transport.hello(),
            storage: storage.clone(),
            log_key: Arc::clone(&log_key),
            checkpoints: checkpoints.clone(),
            trust: transport.trust().clone(),
            region: config.region,
            max_skew_ms: config.policy.max_clock_skew.as_millis() as i64,
            chain_pem,
            signing_chain_pem: signing_chain_pem.clone(),
            queries: Arc::clone(&queries),
            federation: federation.clone(),
        });
        let node = RunningNode {
            queries,
            federation,
            log_key,
            signing_chain_pem,
            checkpoints,
            crl_state: Arc::new(tokio::sync::Mutex::new(read_crls(&config.tls))),
            config,
            transport,
            storage,
            shutdown,
            tracker,
            gateway,
            console,
            duties: Arc::default(),
        };
        node.spawn_tasks(handler).await?;
        tracing::info!(
            addr = %node.local_addr(),
            region = %node.config.region,
            node = %node.config.name,
            "node listening"
        );
        Ok(node)
    }

    /// Start the node's tasks: serving peers, the CRL watch, federation
    /// delivery, the upward reporter, the objection watch and the metrics
    /// listener.
    async fn spawn_tasks(&self, handler: Arc<NodeHandler>) -> Result<(), StartError> {
        {
            let transport = self.transport.clone();
            let shutdown = self.shutdown.clone();
            let tracker = self.tracker.clone();
            self.tracker
                .spawn(async move { transport.serve(handler, shutdown, tracker).await });
        }
        self.spawn_crl_watch();
        let start = crate::duties::work::region_duties(
            &self.federation,
            &self.config,
            self.queries.policy().catalogue(),
            self.subject_access(),
        )?;
        let holder = crate::duties::holder_name(self.local_addr(), self.storage.clock().now_ms());
        let duties = crate::duties::Duties::spawn(
            self.storage.clone(),
            holder,
            start,
            &self.tracker,
            self.shutdown.clone(),
        );
        // Wait for the first claim, so that a take is in the log before the
        // node is said to be running (bounded: the database may be slow).
        let _ = tokio::time::timeout(Duration::from_secs(2), duties.first_claim()).await;
        let _ = self.duties.set(duties);
        if let Some(addr) = self.config.metrics.listen {
            let observed = crate::metrics::Observed {
                config: &self.config,
                storage: &self.storage,
                checkpoints: &self.checkpoints,
                federation: &self.federation,
                transport: &self.transport,
                query_counters: self.queries.counters(),
                catalogue: self.queries.policy().catalogue(),
                duties: self.duties(),
            };
            let sources = crate::metrics::sources(&observed, &self.tracker, self.shutdown.clone());
            crate::metrics::serve(addr, sources, &self.tracker, self.shutdown.clone()).await?;
        }
        Ok(())
    }

    /// The region's duties as this process sees them (whether it holds
    /// them, and under which name it claims them).
    pub fn duties(&self) -> Option<&crate::duties::Duties> {
        self.duties.get()
    }

    fn spawn_crl_watch(&self) {
        let every = self.config.tls.crl_reload;
        let shutdown = self.shutdown.clone();
        let this = self.reloader();
        self.tracker.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(e) = this.reload_if_changed().await {
                    tracing::error!(error = %e, "CRL reload failed; keeping the previous CRLs");
                }
            }
        });
    }

    fn reloader(&self) -> CrlReloader {
        CrlReloader {
            tls: self.config.tls.clone(),
            transport: self.transport.clone(),
            gateway: self.gateway.clone(),
            storage: self.storage.clone(),
            state: Arc::clone(&self.crl_state),
        }
    }

    /// Re-read the CRL files now; if they changed, swap the trust store and
    /// close live connections of peers (and gateway clients) that no longer
    /// verify. Returns how many connections were closed.
    pub async fn reload_crls(&self) -> Result<usize, StartError> {
        self.reloader().reload_if_changed().await
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.transport.local_addr().unwrap_or(self.config.listen)
    }

    /// The web console, if `[console] listen` configures one.
    pub fn console(&self) -> Option<&crate::console::Console> {
        self.console.as_ref()
    }

    /// The integration gateway, if `[gateway]` configures one.
    pub fn gateway(&self) -> Option<&Gateway> {
        self.gateway.as_ref()
    }

    /// The node's transport (to dial peers).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The node's query service (its policy, for inspection).
    pub fn queries(&self) -> &QueryService {
        &self.queries
    }

    /// The node's federation messaging (recognition, lists, upward
    /// reports).
    pub fn federation(&self) -> &crate::federation::Federation {
        &self.federation
    }

    /// Gathering subjects' access reports across regions, and answering
    /// other regions' requests (`crate::subject_access`).
    pub fn subject_access(&self) -> crate::subject_access::SubjectAccessFederation {
        crate::subject_access::SubjectAccessFederation::new(
            self.federation.clone(),
            self.queries
                .policy()
                .catalogue()
                .categories()
                .map(|c| c.code.clone())
                .collect(),
            self.config.peers.iter().map(|p| p.region),
        )
    }

    /// The node's log key (its verifier key is what auditors trust).
    pub fn log_key(&self) -> &crate::log::LogKey {
        &self.log_key
    }

    /// The node's checkpointer.
    pub fn checkpoints(&self) -> &crate::log::Checkpoints {
        &self.checkpoints
    }

    /// Have the node at the other end of `conn` cosign this node's newest
    /// checkpoint; returns the size cosigned.
    pub async fn request_cosignature(
        &self,
        conn: &PeerConnection,
        last_seen: u64,
    ) -> Result<u64, crate::log::CosignError> {
        crate::log::request_cosignature(
            &self.storage,
            &self.log_key,
            &self.checkpoints,
            conn,
            last_seen,
        )
        .await
    }

    /// Have every configured peer cosign one checkpoint of the whole log
    /// now (signed if none covers it): a witnessing round on demand.
    pub async fn witness_now(
        &self,
    ) -> Result<Option<crate::log::WitnessRound>, crate::log::LogError> {
        crate::log::witness_round(
            &self.storage,
            &self.log_key,
            &self.checkpoints,
            &self.transport,
            &self.config.peers,
        )
        .await
    }

    /// Export the log into `out` as of a checkpoint its peers have just
    /// cosigned ([`RunningNode::witness_now`]): an auditor finds it vouched
    /// for in full. `chain_pem` is the TLS chain (the log key's); the
    /// message-signing chain goes with it when the node has one. Returns
    /// the summary and the round.
    pub async fn export_witnessed(
        &self,
        chain_pem: &str,
        out: &std::path::Path,
    ) -> Result<
        (
            crate::export::ExportSummary,
            Option<crate::log::WitnessRound>,
        ),
        crate::export::ExportError,
    > {
        let chains = || crate::export::NodeChains {
            tls: chain_pem,
            signing: self.signing_chain_pem.as_deref(),
        };
        let round = match self.witness_now().await {
            Ok(round) => round,
            // A halted log signs nothing more: export it as of the last
            // checkpoint it signed, for the auditors.
            Err(crate::log::LogError::Halted(reason)) => {
                tracing::warn!(reason = %reason, "exporting a halted log as of its last checkpoint");
                let last = self.storage.latest_checkpoint().await?;
                let summary = match last {
                    Some((size, note)) => {
                        let head = crate::log::SignedHead { size, note };
                        crate::export::export_at_chains(
                            &self.storage,
                            &self.log_key,
                            chains(),
                            out,
                            &head,
                        )
                        .await?
                    }
                    // Nothing signed yet, and signing now could fork the log.
                    None => return Err(crate::log::LogError::Halted(reason).into()),
                };
                return Ok((summary, None));
            }
            Err(e) => return Err(e.into()),
        };
        let summary = match &round {
            Some(r) => {
                crate::export::export_at_chains(
                    &self.storage,
                    &self.log_key,
                    chains(),
                    out,
                    &r.head,
                )
                .await?
            }
            None => {
                crate::export::export_chains(&self.storage, &self.log_key, chains(), out).await?
            }
        };
        Ok((summary, round))
    }

    /// The message-signing chain (PEM) under `sm2-sm3`, for exports.
    pub fn signing_chain_pem(&self) -> Option<&str> {
        self.signing_chain_pem.as_deref()
    }

    /// The node's storage.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Dial a configured peer and exchange `Hello`.
    pub async fn connect(&self, peer: &PeerConfig) -> Result<PeerConnection, ClientError> {
        self.transport.connect_peer(peer).await
    }

    /// Stop accepting, close connections, wait for request tasks, and drain
    /// the storage write queue.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.transport.close().await;
        if tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not finish within 10 s of shutdown");
        }
        self.storage.close().await;
        tracing::info!("node stopped");
    }
}

#[derive(Clone)]
struct CrlReloader {
    tls: TlsFiles,
    transport: Transport,
    gateway: Option<Gateway>,
    storage: Storage,
    state: Arc<tokio::sync::Mutex<Vec<Vec<u8>>>>,
}

impl CrlReloader {
    async fn reload_if_changed(&self) -> Result<usize, StartError> {
        let mut last = self.state.lock().await;
        let now = read_crls(&self.tls);
        if *last == now {
            return Ok(0);
        }
        let store = load_trust(&self.tls)?;
        self.transport.trust().replace(store);
        *last = now;
        let closed = self.transport.recheck_connections()
            + self
                .gateway
                .as_ref()
                .map_or(0, Gateway::recheck_connections);
        tracing::info!(closed, "CRLs reloaded");
        let entry = credex_journal::TrustChanged {
            version: credex_journal::ENTRY_VERSION,
            at_ms: now_ms(),
            crl_digests: last.iter().map(|c| credex_journal::sha256(c)).collect(),
            connections_closed: u32::try_from(closed).unwrap_or(u32::MAX),
        };
        self.storage.append_entry(&entry).await?;
        Ok(closed)
    }
}

/// How often a connected peer is asked to cosign this node's newest checkpoint.
pub const WITNESS_INTERVAL: Duration = Duration::from_secs(5);

/// Dial every configured peer in the background, retrying with backoff
/// until each has answered `Hello` once, and log what they said. The node
/// keeps the connection open (with keep-alives) until it or the peer stops,
/// and, while this process holds the region's duties, has the peer witness
/// the log every [`WITNESS_INTERVAL`].
pub fn dial_peers_in_background(node: &RunningNode) {
    for peer in node.config.peers.clone() {
        let transport = node.transport.clone();
        let shutdown = node.shutdown.clone();
        let storage = node.storage.clone();
        let log_key = Arc::clone(&node.log_key);
        let checkpoints = node.checkpoints.clone();
        let duties = node.duties().cloned();
        node.tracker.spawn(async move {
            let mut last_seen = 0u64;
            let mut backoff = Duration::from_millis(500);
            loop {
                let attempt = transport.connect_peer(&peer);
                let result = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = attempt => r,
                };
                match result {
                    Ok(conn) => {
                        if let Some(h) = conn.peer_hello() {
                            tracing::info!(peer = %conn.peer(), software = %h.software, "peer said hello");
                        }
                        backoff = Duration::from_millis(500);
                        // While connected, have the peer witness our log.
                        let mut tick = tokio::time::interval(WITNESS_INTERVAL);
                        loop {
                            tokio::select! {
                                _ = shutdown.cancelled() => { conn.close(); return; }
                                reason = conn.closed() => {
                                    tracing::info!(peer = %conn.peer(), %reason, "connection to peer closed");
                                    break;
                                }
                                _ = tick.tick() => {
                                    // Witnessing is one of the region's duties: one
                                    // process asks, for the whole log (decision 1020).
                                    if duties.as_ref().is_some_and(|d| d.token().is_none()) {
                                        continue;
                                    }
                                    match crate::log::request_cosignature(&storage, &log_key, &checkpoints, &conn, last_seen).await {
                                        Ok(size) => last_seen = size,
                                        Err(e) => tracing::warn!(peer = %conn.peer(), error = %e, "witnessing failed"),
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!(peer = %format!("{}/{}", peer.region, peer.name), error = %e, "peer not reachable yet"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }
}
