//! Fixtures for credex's workspace integration tests: a development
//! federation in a temporary directory, nodes started on loopback ports, and
//! helpers to play a misbehaving peer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

pub mod browser;
pub mod console;
pub mod gateway;
pub mod lists;
pub mod region;

use credex_kit::dev::{self, DevNode};
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::pki_files::CaDir;
use credex_node::service::RunningNode;
use credex_protocol::{NodeName, RegionCode};

/// Install a tracing subscriber once (respects `RUST_LOG`, quiet by default).
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// The crypto suite this test run's federations use: `CREDEX_TEST_SUITE`
/// (`ed25519-sha256` or `sm2-sm3`), `ed25519-sha256` when unset.
/// `scripts/test` runs the integration suite once under each. A test about
/// one suite's own behaviour names it with [`Federation::with_suite`].
///
/// # Panics
///
/// On a value that names no suite: a test run must not silently fall back.
pub fn test_suite() -> credex_protocol::Suite {
    match std::env::var("CREDEX_TEST_SUITE") {
        Ok(name) if !name.is_empty() => name
            .parse()
            .unwrap_or_else(|e| panic!("CREDEX_TEST_SUITE={name:?}: {e}")),
        _ => credex_protocol::Suite::Ed25519Sha256,
    }
}

/// The key algorithm of officers and authorities under [`test_suite`]
/// (SM2 under `sm2-sm3`, Ed25519 otherwise).
pub fn signing_algorithm() -> credex_pki::KeyAlgorithm {
    match test_suite() {
        credex_protocol::Suite::Ed25519Sha256 => credex_pki::KeyAlgorithm::Ed25519,
        credex_protocol::Suite::Sm2Sm3 => credex_pki::KeyAlgorithm::Sm2,
    }
}

/// A development federation (root, region CAs 520000/500000/440000/000000,
/// one node each) in a temporary directory.
pub struct Federation {
    dir: tempfile::TempDir,
    nodes: Vec<DevNode>,
}

impl Federation {
    /// Create it under the suite of this test run: [`test_suite`]
    /// (`CREDEX_TEST_SUITE`, `ed25519-sha256` when unset), so that the
    /// same integration suite runs under both crypto suites.
    pub fn new() -> Federation {
        Federation::with_suite(test_suite())
    }

    /// Create it under the crypto suite `suite` (under `sm2-sm3`: SM2 CAs,
    /// officers and authorities; each node an Ed25519 TLS certificate and
    /// an SM2 signing one).
    pub fn with_suite(suite: credex_protocol::Suite) -> Federation {
        init_tracing();
        let dir = tempfile::tempdir().expect("temporary directory");
        let nodes =
            dev::init_regions_with_suite(dir.path(), dev::DEV_BASE_PORT, &dev::DEV_REGIONS, suite)
                .expect("dev federation");
        Federation { dir, nodes }
    }

    /// The federation's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The node named `name` (gy-1, cq-1, gz-1, national-1).
    pub fn node(&self, name: &str) -> &DevNode {
        self.nodes
            .iter()
            .find(|n| n.name.as_str() == name)
            .unwrap_or_else(|| panic!("no node {name} in the dev federation"))
    }

    /// The node's configuration, listening on an ephemeral loopback port.
    pub fn config(&self, name: &str) -> NodeConfig {
        let mut c = NodeConfig::load(&self.node(name).config).expect("dev config loads");
        c.listen.set_port(0);
        c
    }

    /// Start the node.
    pub async fn start(&self, name: &str) -> RunningNode {
        self.start_with(self.config(name)).await
    }

    /// Start the nodes `names` on loopback ports reserved up front, each
    /// naming the others as its QUIC peers, so federation messages flow
    /// between them (in the order given).
    pub async fn start_wired(&self, names: &[&str]) -> Vec<RunningNode> {
        self.start_wired_with(names, |_| {}).await
    }

    /// [`Federation::start_wired`], each configuration changed by `adjust`
    /// before its node starts.
    pub async fn start_wired_with(
        &self,
        names: &[&str],
        adjust: impl Fn(&mut NodeConfig),
    ) -> Vec<RunningNode> {
        let sockets: Vec<std::net::UdpSocket> = names
            .iter()
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let ports: std::collections::BTreeMap<RegionCode, u16> = names
            .iter()
            .zip(&sockets)
            .map(|(name, socket)| {
                let port = socket.local_addr().expect("bound").port();
                (self.node(name).region, port)
            })
            .collect();
        drop(sockets);
        let mut nodes = Vec::new();
        for name in names {
            let mut c = self.config(name);
            c.listen.set_port(ports[&c.region]);
            for peer in &mut c.peers {
                if let Some(port) = ports.get(&peer.region) {
                    peer.addr.set_port(*port);
                }
            }
            adjust(&mut c);
            nodes.push(self.start_with(c).await);
        }
        nodes
    }

    /// Start a node with a modified configuration.
    pub async fn start_with(&self, config: NodeConfig) -> RunningNode {
        RunningNode::start(config).await.expect("node starts")
    }

    /// The root CA.
    pub fn root(&self) -> CaDir {
        CaDir::at(self.path().join("pki/root"))
    }

    /// The CA of a region.
    pub fn ca(&self, region: &str) -> CaDir {
        CaDir::at(self.path().join(format!("pki/{region}")))
    }

    /// The certificate chain file of a node.
    pub fn node_cert(&self, name: &str) -> PathBuf {
        let n = self.node(name);
        n.config.with_file_name(format!("{}.pem", n.name))
    }

    /// The certificate whose key signs the node's objects (responses,
    /// reports, acknowledgements): its SM2 signing certificate under
    /// `sm2-sm3`, its TLS certificate otherwise. What an operator revokes
    /// to stop the node's signatures being accepted.
    pub fn signing_cert(&self, name: &str) -> PathBuf {
        self.config(name)
            .tls
            .signing
            .map_or_else(|| self.node_cert(name), |files| files.cert)
    }
}

impl Default for Federation {
    fn default() -> Self {
        Self::new()
    }
}

/// Dial `target` (a running node) from `from`, expecting it to be node
/// `name` of `region`.
pub async fn dial(
    from: &RunningNode,
    target: &RunningNode,
    region: &str,
    name: &str,
) -> Result<credex_node::transport::PeerConnection, credex_node::transport::ClientError> {
    let region: RegionCode = region.parse().expect("region");
    let name: NodeName = name.parse().expect("name");
    from.transport()
        .connect(
            target.local_addr(),
            &logical_server_name(region, &name),
            region,
            Some(name),
        )
        .await
}

/// The PostgreSQL URL of the tests (`CREDEX_TEST_POSTGRES_URL`, from
/// `scripts/postgres-setup.sh`); `None` with `CREDEX_SKIP_POSTGRES=1`.
/// Panics when neither is set, so that CI cannot skip PostgreSQL silently.
pub fn postgres_url() -> Option<String> {
    match std::env::var("CREDEX_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CREDEX_SKIP_POSTGRES").as_deref() == Ok("1") => None,
        _ => panic!(
            "CREDEX_TEST_POSTGRES_URL is not set (scripts/postgres-setup.sh), or set CREDEX_SKIP_POSTGRES=1"
        ),
    }
}

/// A loopback UDP port free when asked (QUIC listeners, or a peer that is
/// down).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// A loopback TCP port free when asked.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free TCP port")
        .port()
}

/// Kill `child` with SIGKILL (no destructors, no flush, no clean close)
/// and reap it.
#[cfg(unix)]
pub fn sigkill(child: &mut std::process::Child) {
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(killed, "kill -KILL {} failed", child.id());
    let _ = child.wait();
}

/// Wait for a future with a generous bound, so a hang fails the test instead of stalling CI.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 20 s"))
}

/// Export `node`'s log as C2SP tiles (with its certificate chain) to `out`.
pub async fn export_log(node: &RunningNode, out: &Path) {
    let chain = std::fs::read_to_string(&node.config().tls.cert).expect("node chain");
    let chains = credex_node::export::NodeChains {
        tls: &chain,
        signing: node.signing_chain_pem(),
    };
    credex_node::export::export_chains(node.storage(), node.log_key(), chains, out)
        .await
        .expect("export");
}

/// Have every node of `nodes` cosign every other's newest checkpoint, as
/// peers do every few seconds while connected: what anchors each log for the
/// auditor (audit_anchor).
pub async fn witness_all(nodes: &[&RunningNode]) {
    for log in nodes {
        for witness in nodes {
            if std::ptr::eq(*log, *witness) {
                continue;
            }
            let (region, name) = (witness.config().region, witness.config().name.clone());
            let conn = dial(log, witness, &region.to_string(), name.as_str())
                .await
                .expect("dial the witness");
            log.request_cosignature(&conn, 0)
                .await
                .expect("the witness cosigns");
            conn.close();
        }
    }
}

/// Export every node's log under `dir` (after they witnessed each other)
/// and run the auditor over them all.
pub async fn audit_all(nodes: &[&RunningNode], dir: &Path) -> credex_audit::AuditReport {
    witness_all(nodes).await;
    let mut dirs = Vec::new();
    for node in nodes {
        let out = dir.join(format!("{}-{}", node.config().region, node.config().name));
        export_log(node, &out).await;
        dirs.push(out);
    }
    let trust = nodes[0].transport().trust().current();
    credex_audit::verify(&dirs, &trust)
}

/// The bodies of `node`'s journal entries of `kind`, oldest first.
pub async fn entries_of_kind(node: &RunningNode, kind: u16) -> Vec<Vec<u8>> {
    let records = node
        .storage()
        .journal_range(0, 100_000)
        .await
        .expect("the journal reads");
    records
        .into_iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.body)
        .collect()
}

/// Shared handle type for tests that keep several nodes.
pub type Shared<T> = Arc<T>;

/// An operator or authority of the development federation, ready to sign.
pub fn signer(fed: &Federation, region: &str, name: &str) -> credex_node::requester::Signer {
    let dir = if name == "portal" {
        fed.path().join(format!("authorities/{region}"))
    } else {
        fed.path().join(format!("operators/{region}"))
    };
    credex_node::requester::Signer::load(
        &dir.join(format!("{name}.pem")),
        &dir.join(format!("{name}.key")),
    )
    .expect("dev signer loads")
}

/// The synthetic companies of a development region (all have records).
pub fn subjects(region: &str) -> Vec<String> {
    credex_kit::dev::sample_subjects(region.parse().expect("region"))
}

/// Import the development region's sample records into `node`.
pub async fn import_samples(fed: &Federation, node: &RunningNode, region: &str) {
    for category in [
        "admin_penalty",
        "tax_credit_rating",
        "public_credit_evaluation",
    ] {
        let file = fed
            .path()
            .join(format!("records/{region}/{category}.jsonl"));
        let persons = credex_node::pseudonyms::NaturalPersons::load(
            node.config(),
            &ring::rand::SystemRandom::new(),
        )
        .expect("the key ring loads");
        credex_node::records::import_file_of_persons(
            node.storage(),
            &file,
            category,
            node.queries().policy().catalogue(),
            persons.as_ref(),
        )
        .await
        .unwrap_or_else(|e| panic!("importing {}: {e}", file.display()));
    }
}

/// A query from `from` (the node's region) signed by req-1 and approved by apv-1.
pub fn authorized_query(
    fed: &Federation,
    from: &RunningNode,
    spec: credex_node::requester::QuerySpec,
) -> credex_protocol::query::AuthorizedQuery {
    let region = from.config().region.to_string();
    let mut file = credex_node::requester::draft_and_sign(
        from.config().region,
        from.config().name.clone(),
        spec,
        &signer(fed, &region, "req-1"),
        std::time::SystemTime::now(),
    )
    .expect("draft");
    credex_node::requester::approve(&mut file, &signer(fed, &region, "apv-1")).expect("approve");
    file.authorized().expect("complete")
}

/// Send `query` from `from` to `to` over a fresh connection; the response
/// signature is verified and the exchange logged on the requester's side.
pub async fn ask(
    from: &RunningNode,
    to: &RunningNode,
    query: &credex_protocol::query::AuthorizedQuery,
) -> credex_protocol::query::QueryResponse {
    let region = to.config().region.to_string();
    let name = to.config().name.to_string();
    let conn = within("dial", dial(from, to, &region, &name))
        .await
        .expect("dial");
    let trust = from.transport().trust().current();
    within(
        "query",
        credex_node::requester::send(&conn, &trust, from.storage(), query),
    )
    .await
    .expect("query answered with a verified response")
}

/// An egress record that releases exactly what `payload` carries (no
/// record data when it cannot be read): what a doctored sender claims for
/// a body it built around the gate.
pub fn egress_as_carried(
    flow: credex_protocol::federation::Flow,
    kind: u16,
    payload: &[u8],
) -> credex_protocol::egress::EgressRecord {
    use credex_protocol::egress::{EgressBasis, EgressRecord};
    match credex_policies::egress::carried_fields(flow, kind, payload) {
        Ok(released) if !released.is_empty() => EgressRecord {
            basis: EgressBasis::Agreement("none".into()),
            basis_hash: [0; 32],
            released,
            withheld: Vec::new(),
        },
        _ => EgressRecord::no_record_data(),
    }
}

/// A body for `to` built around the egress gate (`egress::danger`), with
/// [`egress_as_carried`] as its record: a malicious or doctored sender.
pub fn unchecked_body(
    flow: credex_protocol::federation::Flow,
    kind: u16,
    to: RegionCode,
    payload: Vec<u8>,
) -> credex_policies::egress::ReleasedBody {
    let egress = egress_as_carried(flow, kind, &payload);
    credex_policies::egress::danger::release_unchecked(flow, kind, to, payload, egress)
}

/// An audit report's violations as (log origin, rule), in report order.
pub fn findings(report: &credex_audit::AuditReport) -> Vec<(&str, &'static str)> {
    report
        .violations
        .iter()
        .map(|v| (v.log.as_str(), v.rule))
        .collect()
}

/// A query to Guangdong (440000) about `subject`'s administrative penalties
/// for public procurement, citing the joint-punishment memorandum.
pub fn gz_penalty_query(subject: &str, fields: &[&str]) -> credex_node::requester::QuerySpec {
    credex_node::requester::QuerySpec {
        target_region: "440000".parse().expect("region"),
        subject: credex_protocol::query::SubjectRef::LegalPerson(subject.into()),
        purpose: "public_procurement".into(),
        requested: vec![credex_protocol::query::CategoryFields {
            category: "admin_penalty".into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }],
        legal_basis: Some("joint-punishment-memorandum".into()),
        subject_authorization: None,
    }
}

/// Play a corrupt responder: log on `node` a granted release of `q` that the
/// pipeline never decided — shaped like `like`, now, with `q`'s bundle
/// stored beside it and no claim (so no nonce, use or quota check).
pub async fn forge_release(
    node: &RunningNode,
    q: &credex_protocol::query::AuthorizedQuery,
    like: &credex_journal::AccessEntry,
) {
    let digest = credex_pki::authorization::query_digest(q).expect("digest");
    let mut e = like.clone();
    e.query_digest = digest;
    e.outcome = credex_protocol::query::Outcome::Granted;
    e.subject_authorization_id = q
        .subject_authorization
        .as_ref()
        .map(|a| a.authorization.authorization_id);
    e.at_ms = credex_node::query::unix_ms(std::time::SystemTime::now());
    let claim = credex_node::storage::AccessClaim {
        requester_region: q.request.requester_region.to_string(),
        nonce: q.request.nonce,
        nonce_expires_at_unix_ms: i64::MAX / 2,
        authorization_use: None,
        quota: None,
    };
    let bundle = credex_protocol::encode(q).expect("bundle");
    let body = credex_protocol::encode(&e).expect("entry");
    node.storage()
        .append_claimed(
            credex_journal::kind::QUERY_RECEIVED,
            claim,
            Some(credex_node::storage::Attachment::new(digest, bundle)),
            move |_| body,
        )
        .await
        .expect("forged release logged");
}

/// Wait until `check` holds, checking again after every write `storage`'s
/// writer completes — no polling, no sleeps; a hang fails the test after
/// [`STORED_PATIENCE`].
pub async fn until_stored<F, Fut>(storage: &credex_node::storage::Storage, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until_stored_some(storage, what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await;
}

/// Wait until `look` finds something (`Some`), looking again after every
/// write `storage`'s writer completes; returns what it found.
pub async fn until_stored_some<T, F, Fut>(
    storage: &credex_node::storage::Storage,
    what: &str,
    mut look: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut writes = storage.subscribe_writes();
    let wait = async {
        loop {
            // Mark what is stored now as seen before looking, so a write
            // that lands while `look` runs wakes the wait below.
            writes.borrow_and_update();
            if let Some(found) = look().await {
                return found;
            }
            if writes.changed().await.is_err() {
                panic!("{what}: the store closed");
            }
        }
    };
    tokio::time::timeout(STORED_PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {STORED_PATIENCE:?}"))
}

/// How long [`until_stored`] waits: long enough for a federation to
/// recover from a restart and its retry backoff on a loaded CI machine.
pub const STORED_PATIENCE: Duration = Duration::from_secs(90);

/// gy-1's configuration `c` changed to release administrative penalties to
/// Chongqing and Guangdong for public procurement on a legal basis (a
/// policy written into the federation's directory), and to report upward
/// every 100 ms.
pub fn release_penalties_to_chongqing_and_guangdong(fed: &Federation, c: &mut NodeConfig) {
    let policy = fed.path().join("gy-penalties-policy.toml");
    std::fs::write(
        &policy,
        r#"owner = "520000"

[[legal_basis]]
code = "joint-punishment-memorandum"
title = "《关于对失信被执行人实施联合惩戒的合作备忘录》"

[[rule]]
id = "penalties-for-procurement"
peers = { regions = ["500000", "440000"] }
purposes = ["public_procurement"]
valid_from = "2024-01-01"
valid_until = "2030-12-31"
subject_authorization = "required"
legal_bases = ["joint-punishment-memorandum"]

[[rule.release]]
category = "admin_penalty"
fields = ["decision_number", "amount", "decision_date"]
"#,
    )
    .expect("policy written");
    c.policy.file = Some(policy);
    c.upward.enabled = true;
    c.upward.interval = Duration::from_millis(100);
}

/// A query to Guizhou (520000) about `subject`'s administrative penalties
/// for public procurement, citing the joint-punishment memorandum.
pub fn gy_penalty_query(subject: &str) -> credex_node::requester::QuerySpec {
    let mut spec = gz_penalty_query(subject, &["decision_number", "amount"]);
    spec.target_region = "520000".parse().expect("region");
    spec
}

/// Write `rows` (evaluation results, JSON Lines) as `dir/name.jsonl` and
/// issue them at `node`, as its evaluating body's import would.
pub async fn import_results(
    node: &RunningNode,
    dir: &Path,
    name: &str,
    rows: &[String],
) -> Vec<credex_node::eval::IssueOutcome> {
    use credex_node::eval;
    use credex_node::service::now_ms;
    let file = dir.join(format!("{name}.jsonl"));
    std::fs::write(&file, rows.join("\n")).expect("the import file is written");
    let agreements = eval::load_agreements(node.config()).expect("agreements load");
    let parsed = eval::parse_results(&file, node.config().region, &agreements, now_ms())
        .expect("the import file parses");
    eval::issue(
        node.federation(),
        &agreements,
        node.queries().policy().catalogue(),
        &parsed,
        now_ms(),
    )
    .await
    .expect("the results are issued")
    .outcomes
}

/// The national platform, Guizhou (releasing its penalties to Chongqing
/// and Guangdong, reporting upward), Chongqing and Guangdong, wired, in
/// that order, with Guizhou's samples imported and Guangdong having queried
/// the penalties of Guizhou's second sample company. Returns the nodes,
/// that company, and the id of the first penalty record Guangdong received.
pub async fn penalty_queried_by_guangdong(fed: &Federation) -> (Vec<RunningNode>, String, String) {
    let nodes = fed
        .start_wired_with(&["national-1", "gy-1", "cq-1", "gz-1"], |c| {
            if c.region.to_string() == "520000" {
                release_penalties_to_chongqing_and_guangdong(fed, c);
            }
        })
        .await;
    let (gy, gz) = (&nodes[1], &nodes[3]);
    import_samples(fed, gy, "520000").await;
    let subject = subjects("520000")[1].clone();
    let answer = ask(
        gz,
        gy,
        &authorized_query(fed, gz, gy_penalty_query(&subject)),
    )
    .await;
    let record = answer.body.records[0].record_id.clone();
    (nodes, subject, record)
}

/// The kinds of every event in `node`'s event feed (`GET /v1/events`, read
/// in-process), oldest first.
pub async fn event_kinds(node: &RunningNode) -> Vec<String> {
    let page = credex_node::gateway::events::read(
        node.storage(),
        credex_node::gateway::events::PageRequest {
            after: 0,
            limit: 1000,
            wait: Duration::ZERO,
        },
    )
    .await
    .expect("the event feed reads");
    page.events.into_iter().map(|e| e.kind).collect()
}
