//! `credex bench`: how fast credex is on this machine, and what bounds it.
//!
//! `credex bench query` measures authorized queries end to end: a
//! throw-away development federation ([`crate::dev::init`]) in a temporary
//! directory, the Guizhou node (requester, 申请方) and the Guangdong node
//! (responder) started in this process on `127.0.0.1` with ephemeral ports,
//! the responder's sample records imported, and, per concurrency level,
//! that many requests kept in flight for a fixed time over one (or a few)
//! QUIC connections. Requests are signed and approved before the clock
//! starts (the human step is not timed); each goes through
//! [`credex_node::requester::send`], so the response signature and the log
//! receipt are verified and the requester durably logs its side too. Beside the figures it reports
//! the crypto floor: Ed25519 signatures and verifications per second on
//! this machine, how many one query needs, and the query rate that allows.
//!
//! The fixtures ([`BenchFederation`], [`QueryFactory`]) are also what the
//! criterion benchmark `node/kit/benches/decision.rs` drives.
//!
//! What it does not do: handshakes, the transport ceiling, log appends and
//! the auditor are in `credex bench all` ([`crate::bench_all`]) and
//! `credex bench log`; both nodes share the process and the machine's
//! cores, as on the development machine.
//! `docs/performance.md` holds the latest figures and how to read them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use credex_node::config::{ConfigError, NodeConfig, logical_server_name};
use credex_node::pki_files::PkiFileError;
use credex_node::records::ImportError;
use credex_node::requester::{self, QuerySpec, RequesterError, Signer};
use credex_node::service::{RunningNode, StartError};
use credex_node::storage::Storage;
use credex_node::transport::{ClientError, PeerConnection};
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, SignedSubjectAuthorization, SubjectAuthorization, SubjectRef,
};
use credex_protocol::{NodeName, RegionCode};
use serde::Serialize;

use crate::dev::{self, DevNode};

/// The requesting node of the benchmark: Guizhou 贵州.
pub const REQUESTER_NODE: &str = "gy-1";
/// The responding node of the benchmark: Guangdong 广东.
pub const RESPONDER_NODE: &str = "gz-1";
/// Daily quota per peer written into the benchmark federation's policies,
/// in place of the examples' (20,000 a day would end a run early with
/// `QuotaExceeded`). The quota is still claimed on every query.
pub const BENCH_QUOTA_PER_DAY: u64 = 1_000_000_000;
/// The legal basis the benchmark's queries cite (Guangdong's policy accepts it).
pub const BENCH_LEGAL_BASIS: &str = "joint-punishment-memorandum";
/// The purpose of the benchmark's queries.
pub const BENCH_PURPOSE: &str = "public_procurement";
/// The category the benchmark's queries ask for.
pub const BENCH_CATEGORY: &str = "admin_penalty";
/// The fields the benchmark's queries ask for: all released under the
/// Guangdong policy, so every query is `Granted`.
pub const BENCH_FIELDS: [&str; 4] = [
    "decision_number",
    "amount",
    "decision_date",
    "deciding_authority",
];
/// Most queries pre-built for one level (memory bound: about 3 KiB each).
pub const MAX_PREBUILT: usize = 200_000;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The log benchmark failed.
    #[error("log benchmark: {0}")]
    Log(String),
    /// The throw-away federation could not be created.
    #[error("creating the benchmark federation: {0}")]
    Federation(#[from] PkiFileError),
    /// A file of the federation could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A node configuration of the federation is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node did not start.
    #[error("starting a node: {0}")]
    Start(#[from] StartError),
    /// Sample records could not be imported.
    #[error("importing sample records: {0}")]
    Import(#[from] ImportError),
    /// A query could not be drafted, signed or approved.
    #[error("building queries: {0}")]
    Requester(#[from] RequesterError),
    /// The requester could not connect to the responder.
    #[error("connecting to the responder: {0}")]
    Connect(#[from] ClientError),
    /// The federation's policy could not be adapted to the benchmark.
    #[error("{path}: {reason}")]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    Usage(String),
    /// The JSON report could not be written.
    #[error("writing {path}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

// ---------------------------------------------------------------------------
// Fixtures

/// A development federation in a temporary directory (removed on drop),
/// with quotas raised to [`BENCH_QUOTA_PER_DAY`].
pub struct BenchFederation {
    dir: tempfile::TempDir,
    nodes: Vec<DevNode>,
}

impl std::fmt::Debug for BenchFederation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchFederation")
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl BenchFederation {
    /// Create it (root, four region CAs, nodes, operators, authorities,
    /// policies, sample records), in the system temporary directory.
    pub fn create() -> Result<BenchFederation, BenchError> {
        let dir = tempfile::tempdir().map_err(|source| BenchError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let nodes = dev::init(dir.path(), dev::DEV_BASE_PORT)?;
        for node in &nodes {
            raise_quotas(&node.config.with_file_name("policy.toml"))?;
        }
        Ok(BenchFederation { dir, nodes })
    }

    /// The federation's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The node named `name` (gy-1, cq-1, gz-1, national-1).
    pub fn node(&self, name: &str) -> Result<&DevNode, BenchError> {
        self.nodes
            .iter()
            .find(|n| n.name.as_str() == name)
            .ok_or_else(|| BenchError::Usage(format!("no node {name} in the dev federation")))
    }

    /// The node's configuration, listening on an ephemeral loopback port.
    pub fn config(&self, name: &str) -> Result<NodeConfig, BenchError> {
        let mut config = NodeConfig::load(&self.node(name)?.config)?;
        config.listen.set_port(0);
        Ok(config)
    }

    /// An operator (`req-1`, `apv-1` …) or the authorization authority
    /// (`portal`) of `region`, ready to sign.
    pub fn signer(&self, region: RegionCode, name: &str) -> Result<Signer, BenchError> {
        let dir = if name == "portal" {
            self.path().join(format!("authorities/{region}"))
        } else {
            self.path().join(format!("operators/{region}"))
        };
        Ok(Signer::load(
            &dir.join(format!("{name}.pem")),
            &dir.join(format!("{name}.key")),
        )?)
    }

    /// The sample record files of `region`: (category, path).
    pub fn sample_files(&self, region: RegionCode) -> Vec<(&'static str, PathBuf)> {
        [
            "admin_penalty",
            "tax_credit_rating",
            "public_credit_evaluation",
        ]
        .into_iter()
        .map(|c| (c, self.path().join(format!("records/{region}/{c}.jsonl"))))
        .collect()
    }

    /// Import the sample records of `config`'s region into `storage` (the
    /// node's, natural persons with its key ring and vault); returns how
    /// many.
    pub async fn import_samples(
        &self,
        storage: &Storage,
        config: &NodeConfig,
        catalogue: &credex_policies::Catalogue,
    ) -> Result<u64, BenchError> {
        let persons =
            credex_node::pseudonyms::NaturalPersons::load(config, &ring::rand::SystemRandom::new())
                .map_err(|e| BenchError::Policy {
                    path: config.data_dir.clone(),
                    reason: e.to_string(),
                })?;
        let mut n = 0;
        for (category, file) in self.sample_files(config.region) {
            n += credex_node::records::import_file_of_persons(
                storage,
                &file,
                category,
                catalogue,
                persons.as_ref(),
            )
            .await?;
        }
        Ok(n)
    }

    /// The sample records of `region` in `category`, decoded as the
    /// responder reads them.
    pub fn sample_records(
        &self,
        region: RegionCode,
        category: &str,
        catalogue: &credex_policies::Catalogue,
    ) -> Result<Vec<credex_policies::Record>, BenchError> {
        let file = self
            .path()
            .join(format!("records/{region}/{category}.jsonl"));
        credex_node::records::parse_file(&file, category, catalogue)?
            .iter()
            .map(|row| {
                credex_protocol::decode(&row.body).map_err(|e| BenchError::Policy {
                    path: file.clone(),
                    reason: format!("sample record unreadable: {e}"),
                })
            })
            .collect()
    }
}

/// Rewrite every `per_day = N` of a policy file to [`BENCH_QUOTA_PER_DAY`].
fn raise_quotas(path: &Path) -> Result<(), BenchError> {
    let io = |source| BenchError::Io {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.find("per_day = ") {
            Some(at) => {
                let start = at + "per_day = ".len();
                let digits = line[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(line.len(), |n| start + n);
                if digits == start {
                    return Err(BenchError::Policy {
                        path: path.to_owned(),
                        reason: format!("unexpected quota line {line:?}"),
                    });
                }
                out.push_str(&line[..start]);
                out.push_str(&BENCH_QUOTA_PER_DAY.to_string());
                out.push_str(&line[digits..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(io)
}

/// Builds distinct, fully authorized queries from one requesting node to
/// one region: signed by `req-1`, approved by `apv-1`, each with its own
/// request id and nonce.
pub struct QueryFactory {
    region: RegionCode,
    node: NodeName,
    target: RegionCode,
    requester: Signer,
    approver: Signer,
    subjects: Vec<String>,
    authorization: Option<SignedSubjectAuthorization>,
}

impl std::fmt::Debug for QueryFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryFactory")
            .field("region", &self.region)
            .field("target", &self.target)
            .finish()
    }
}

impl QueryFactory {
    /// Queries from node `node` of `region` to `target`, about `target`'s
    /// sample companies (round robin), citing [`BENCH_LEGAL_BASIS`].
    pub fn new(
        fed: &BenchFederation,
        region: RegionCode,
        node: NodeName,
        target: RegionCode,
    ) -> Result<QueryFactory, BenchError> {
        Ok(QueryFactory {
            region,
            node,
            target,
            requester: fed.signer(region, "req-1")?,
            approver: fed.signer(region, "apv-1")?,
            subjects: dev::sample_subjects(target),
            authorization: None,
        })
    }

    /// From now on, queries carry a subject authorization signed by the
    /// target region's authority (`portal`, the data owner's) for the first sample
    /// company, instead of a legal basis. It allows `max_uses` queries at
    /// each responder.
    pub fn with_subject_authorization(
        mut self,
        fed: &BenchFederation,
        max_uses: u32,
    ) -> Result<QueryFactory, BenchError> {
        let authority = fed.signer(self.target, "portal")?;
        let now = credex_node::query::unix_ms(SystemTime::now());
        let subject =
            self.subjects.first().cloned().ok_or_else(|| {
                BenchError::Usage("the target region has no sample subject".into())
            })?;
        let signed = requester::issue_authorization(
            &authority,
            SubjectAuthorization {
                authorization_id: requester::random_id(),
                subject: SubjectRef::LegalPerson(subject.clone()),
                grantee_region: self.region,
                purposes: vec![BENCH_PURPOSE.to_owned()],
                categories: vec![BENCH_CATEGORY.to_owned()],
                not_before_ms: now - 3_600_000,
                not_after_ms: now + 86_400_000,
                max_uses,
            },
        )?;
        self.subjects = vec![subject];
        self.authorization = Some(signed);
        Ok(self)
    }

    /// What query number `i` asks.
    pub fn spec(&self, i: usize) -> QuerySpec {
        let subject = &self.subjects[i % self.subjects.len()];
        QuerySpec {
            target_region: self.target,
            subject: SubjectRef::LegalPerson(subject.clone()),
            purpose: BENCH_PURPOSE.to_owned(),
            requested: vec![CategoryFields {
                category: BENCH_CATEGORY.to_owned(),
                fields: BENCH_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            }],
            legal_basis: match self.authorization {
                Some(_) => None,
                None => Some(BENCH_LEGAL_BASIS.to_owned()),
            },
            subject_authorization: self.authorization.clone(),
        }
    }

    /// Query number `i`, signed and approved now.
    pub fn build(&self, i: usize) -> Result<AuthorizedQuery, BenchError> {
        let mut file = requester::draft_and_sign(
            self.region,
            self.node.clone(),
            self.spec(i),
            &self.requester,
            SystemTime::now(),
        )?;
        requester::approve(&mut file, &self.approver)?;
        Ok(file.authorized()?)
    }

    /// `n` queries, built on `threads` threads.
    pub fn build_many(&self, n: usize, threads: usize) -> Result<Vec<AuthorizedQuery>, BenchError> {
        let threads = threads.clamp(1, 64);
        let per = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per)..((t + 1) * per).min(n);
                    scope.spawn(move || range.map(|i| self.build(i)).collect::<Result<Vec<_>, _>>())
                })
                .collect();
            let mut out = Vec::with_capacity(n);
            for h in handles {
                match h.join() {
                    Ok(part) => out.extend(part?),
                    Err(_) => {
                        return Err(BenchError::Usage("a query-building thread panicked".into()));
                    }
                }
            }
            Ok(out)
        })
    }
}

// ---------------------------------------------------------------------------
// The crypto floor

/// Signature verifications and signatures one query costs, as counted from
/// the code (`credex_pki::authorization`, `credex_pki::trust`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignatureBudget {
    /// Responder: per officer (requester, approver), the leaf certificate
    /// (signed by the region CA), the region CA certificate (signed by the
    /// root) and the message signature: 2 × 3.
    pub responder_verifies: u32,
    /// Requester: the response's node certificate, its region CA, the
    /// response signature, and the signature of the responder's log
    /// checkpoint in the receipt.
    pub requester_verifies: u32,
    /// CRL signatures webpki re-verifies on every chain check (one per CRL
    /// consulted: the region CA's for the leaf, the root's for the region CA;
    /// three chains per query). Zero if they were checked once at load.
    pub crl_verifies: u32,
    /// Responder: the response signature. (Log checkpoints are signed on
    /// demand, at most one per checkpoint, shared by every query it
    /// covers: not counted.)
    pub signs: u32,
    /// Message signatures only, once certificate chains are cached per
    /// trust store (`credex_pki::TrustStore::verify` since 391cfc9): the
    /// requester's and approver's signatures at the responder, the
    /// response's and the log checkpoint's at the requester.
    pub message_verifies: u32,
}

impl SignatureBudget {
    /// A query citing a legal basis, as the benchmark sends.
    pub const LEGAL_BASIS_QUERY: SignatureBudget = SignatureBudget {
        responder_verifies: 6,
        requester_verifies: 4,
        crl_verifies: 6,
        signs: 1,
        message_verifies: 4,
    };

    /// Verifications the protocol needs (CRLs checked once, at load).
    pub fn intrinsic_verifies(&self) -> u32 {
        self.responder_verifies + self.requester_verifies
    }

    /// Verifications the code performs today.
    pub fn executed_verifies(&self) -> u32 {
        self.intrinsic_verifies() + self.crl_verifies
    }
}

/// Ed25519 speed on this machine (ring), and the query rates it allows.
#[derive(Debug, Clone, Serialize)]
pub struct CryptoFloor {
    /// Size of the signed message, bytes.
    pub message_bytes: usize,
    /// Threads used for the all-core figures.
    pub threads: usize,
    /// Verifications per second, one thread.
    pub verify_per_s_one_thread: f64,
    /// Signatures per second, one thread.
    pub sign_per_s_one_thread: f64,
    /// Verifications per second, all threads together.
    pub verify_per_s_all_threads: f64,
    /// Signatures per second, all threads together.
    pub sign_per_s_all_threads: f64,
    /// What one query costs.
    pub budget: SignatureBudget,
    /// One thread's Ed25519 time per query, microseconds, counting the
    /// verifications the protocol needs.
    pub crypto_us_per_query_intrinsic: f64,
    /// The same, counting the verifications the code performs (with the
    /// CRL signatures re-checked on every chain).
    pub crypto_us_per_query_executed: f64,
    /// Queries per second all cores' signature work allows (one thread's
    /// rate × cores: other processes share the machine, so the all-threads
    /// figures vary with their load), counting the verifications the
    /// protocol needs.
    pub ceiling_qps_intrinsic: f64,
    /// The same, counting the verifications the code performs.
    pub ceiling_qps_executed: f64,
    /// One thread's Ed25519 time per query with certificate chains cached:
    /// message signatures only.
    pub crypto_us_per_query_cached_chains: f64,
    /// Queries per second all cores allow with chains cached (the
    /// strictest floor: what a query cannot avoid).
    pub ceiling_qps_cached_chains: f64,
}

/// Measure ring's Ed25519 on this machine: `each` per figure (four figures).
pub fn measure_crypto_floor(each: Duration, message_bytes: usize) -> CryptoFloor {
    use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
    let rng = ring::rand::SystemRandom::new();
    // A freshly generated PKCS#8 document always parses back; if the system
    // RNG failed, report zeros rather than abort the benchmark.
    let Some(key) = Ed25519KeyPair::generate_pkcs8(&rng)
        .ok()
        .and_then(|doc| Ed25519KeyPair::from_pkcs8(doc.as_ref()).ok())
    else {
        return floor_from(message_bytes, 1, [0.0; 4]);
    };
    let message = vec![0x5a_u8; message_bytes];
    let signature = key.sign(&message);
    let public = key.public_key().as_ref().to_vec();

    let verify_loop = |deadline: Instant| {
        let pk = UnparsedPublicKey::new(&ED25519, &public);
        let mut n = 0u64;
        while Instant::now() < deadline {
            for _ in 0..16 {
                let ok = pk.verify(&message, signature.as_ref()).is_ok();
                std::hint::black_box(ok);
            }
            n += 16;
        }
        n
    };
    let sign_loop = |deadline: Instant| {
        let mut n = 0u64;
        while Instant::now() < deadline {
            for _ in 0..16 {
                std::hint::black_box(key.sign(&message));
            }
            n += 16;
        }
        n
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rate = |f: &(dyn Fn(Instant) -> u64 + Sync), threads: usize| {
        let start = Instant::now();
        let deadline = start + each;
        let total: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| f(deadline))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        total as f64 / start.elapsed().as_secs_f64()
    };
    let figures = [
        rate(&verify_loop, 1),
        rate(&sign_loop, 1),
        rate(&verify_loop, threads),
        rate(&sign_loop, threads),
    ];
    floor_from(message_bytes, threads, figures)
}

fn floor_from(message_bytes: usize, threads: usize, f: [f64; 4]) -> CryptoFloor {
    let budget = SignatureBudget::LEGAL_BASIS_QUERY;
    let [v1, s1, vn, sn] = f;
    let us_per_query = |verifies: u32| {
        if v1 <= 0.0 || s1 <= 0.0 {
            return 0.0;
        }
        1e6 * (f64::from(verifies) / v1 + f64::from(budget.signs) / s1)
    };
    let ceiling = |verifies: u32| {
        let us = us_per_query(verifies);
        if us > 0.0 {
            threads as f64 * 1e6 / us
        } else {
            0.0
        }
    };
    CryptoFloor {
        message_bytes,
        threads,
        verify_per_s_one_thread: v1,
        sign_per_s_one_thread: s1,
        verify_per_s_all_threads: vn,
        sign_per_s_all_threads: sn,
        budget,
        crypto_us_per_query_intrinsic: us_per_query(budget.intrinsic_verifies()),
        crypto_us_per_query_executed: us_per_query(budget.executed_verifies()),
        ceiling_qps_intrinsic: ceiling(budget.intrinsic_verifies()),
        ceiling_qps_executed: ceiling(budget.executed_verifies()),
        crypto_us_per_query_cached_chains: us_per_query(budget.message_verifies),
        ceiling_qps_cached_chains: ceiling(budget.message_verifies),
    }
}

// ---------------------------------------------------------------------------
// `credex bench query`

/// `credex bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Authorized queries end to end between two nodes on loopback
    /// (Guizhou → Guangdong, in this process), with the crypto floor.
    Query(QueryBenchArgs),
    /// The access log: durable appends/s, append-to-checkpoint latency,
    /// `audit verify` entries/s.
    Log(crate::bench_log::LogBenchArgs),
    /// Everything side by side in one run: transport ceiling, crypto
    /// floor, credex queries at 1/16/64/256 in flight, log appends and
    /// audit, mTLS handshakes, each with the ratios between them.
    All(crate::bench_all::AllBenchArgs),
}

/// Options of `credex bench query`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryBenchArgs {
    /// Concurrent in-flight requests, one level per value.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured warm-up seconds before each level.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// QUIC connections from requester to responder (requests are spread
    /// over them round robin).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Seconds per crypto-floor figure (four figures).
    #[arg(long, default_value_t = 0.5)]
    pub crypto_seconds: f64,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Memory, MiB (`/proc/meminfo`).
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// Load averages when the run started (`/proc/loadavg`): the cores are shared.
    pub load_average: String,
}

impl Machine {
    /// Read it from `/proc` (fields unknown elsewhere are left empty).
    pub fn detect() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_average: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// One concurrency level's result.
#[derive(Debug, Clone, Serialize)]
pub struct LevelResult {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Queries answered in the measured phase (any outcome or error).
    pub completed: u64,
    /// Measured wall time, seconds (to the last response).
    pub seconds: f64,
    /// `completed / seconds`.
    pub queries_per_s: f64,
    /// Latency percentiles of one `requester::send`, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Count per outcome (`Granted`, `Trimmed`, `Denied/<reason>`, `error`).
    pub outcomes: BTreeMap<String, u64>,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// Queries pre-built for the level (warm-up included).
    pub prebuilt: usize,
    /// Whether the level ran out of pre-built queries before its time.
    pub pool_exhausted: bool,
    /// CPU time this process (both nodes) used in the measured phase, seconds.
    pub process_cpu_s: f64,
    /// `process_cpu_s` per completed query, microseconds: what one query
    /// costs the machine, whatever else runs on it.
    pub cpu_us_per_query: f64,
    /// Cores other processes kept busy on average during the phase (the
    /// machine is shared): all cores' busy time minus this process's.
    pub others_busy_cores: f64,
    /// Queries per second the whole machine would give at this CPU cost
    /// per query: cores / `cpu_us_per_query`.
    pub cpu_bound_qps: f64,
    /// Share of the CPU per query that is Ed25519 work as executed
    /// (`crypto_us_per_query_executed / cpu_us_per_query`).
    pub crypto_share_of_cpu: f64,
    /// `queries_per_s` / the intrinsic crypto ceiling.
    pub ratio_to_ceiling_intrinsic: f64,
    /// `queries_per_s` / the as-executed crypto ceiling.
    pub ratio_to_ceiling_executed: f64,
}

/// The whole report of `credex bench query`.
#[derive(Debug, Clone, Serialize)]
pub struct QueryBenchReport {
    /// The machine.
    pub machine: Machine,
    /// When the run started, Unix seconds.
    pub started_unix_s: u64,
    /// `credex` version.
    pub version: String,
    /// What was measured, in words.
    pub setup: Vec<String>,
    /// QUIC connections used.
    pub connections: usize,
    /// Measured seconds per level, as asked.
    pub seconds_per_level: f64,
    /// The crypto floor.
    pub crypto: CryptoFloor,
    /// One entry per concurrency level.
    pub levels: Vec<LevelResult>,
}

impl QueryBenchArgs {
    fn check(&self) -> Result<(), BenchError> {
        let usage = |m: String| Err(BenchError::Usage(m));
        if self.concurrency.is_empty() || self.concurrency.iter().any(|&c| c == 0 || c > 4096) {
            return usage("--concurrency: each level must be 1–4096".into());
        }
        if !(self.seconds > 0.0 && self.seconds <= 3600.0) {
            return usage("--seconds: expected more than 0 and at most 3600".into());
        }
        if !(self.warmup >= 0.0 && self.warmup <= 60.0) {
            return usage("--warmup: expected 0–60".into());
        }
        if !(self.crypto_seconds > 0.0 && self.crypto_seconds <= 60.0) {
            return usage("--crypto-seconds: expected more than 0 and at most 60".into());
        }
        // The responder admits 8 connections per peer node (TransportLimits).
        if !(1..=8).contains(&self.connections) {
            return usage("--connections: expected 1–8".into());
        }
        Ok(())
    }
}

/// Run a `credex bench` subcommand, printing its report.
pub async fn run(command: BenchCommand) -> Result<(), BenchError> {
    match command {
        BenchCommand::All(args) => crate::bench_all::run(&args).await,
        BenchCommand::Log(args) => {
            let report = crate::bench_log::run(&args)
                .await
                .map_err(BenchError::Log)?;
            print!("{}", crate::bench_log::render(&report));
            if let Some(path) = &args.json {
                write_json(path, &report)?;
            }
            Ok(())
        }
        BenchCommand::Query(args) => {
            let report = query_bench(&args).await?;
            print!("{}", render(&report));
            if let Some(path) = &args.json {
                write_json(path, &report)?;
            }
            Ok(())
        }
    }
}

/// Run the end-to-end query benchmark (progress on stderr).
pub async fn query_bench(args: &QueryBenchArgs) -> Result<QueryBenchReport, BenchError> {
    args.check()?;
    let machine = Machine::detect();
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    eprintln!("measuring the crypto floor (ring Ed25519)…");
    let crypto = tokio::task::block_in_place(|| {
        measure_crypto_floor(Duration::from_secs_f64(args.crypto_seconds), 512)
    });

    eprintln!(
        "creating a throw-away federation and starting {REQUESTER_NODE} and {RESPONDER_NODE}…"
    );
    let fed = BenchFederation::create()?;
    let requester_node = RunningNode::start(fed.config(REQUESTER_NODE)?).await?;
    let responder_node = RunningNode::start(fed.config(RESPONDER_NODE)?).await?;
    let target = responder_node.config().region;
    let imported = fed
        .import_samples(
            responder_node.storage(),
            responder_node.config(),
            responder_node.queries().policy().catalogue(),
        )
        .await?;
    let mut conns = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let name = responder_node.config().name.clone();
        let conn = requester_node
            .transport()
            .connect(
                responder_node.local_addr(),
                &logical_server_name(target, &name),
                target,
                Some(name),
            )
            .await?;
        conns.push(Arc::new(conn));
    }
    let factory = QueryFactory::new(
        &fed,
        requester_node.config().region,
        requester_node.config().name.clone(),
        target,
    )?;
    let trust = requester_node.transport().trust().current();
    let storage = requester_node.storage().clone();

    let mut levels = Vec::new();
    let result = async {
        for &concurrency in &args.concurrency {
            // Enough for the ceiling's rate over warm-up and measurement:
            // credex cannot answer faster than its signature work allows.
            let ceiling = crypto.ceiling_qps_intrinsic.max(1000.0);
            let want = ((ceiling * (args.seconds + args.warmup) * 1.1) as usize + 4 * concurrency)
                .min(MAX_PREBUILT);
            eprintln!("level {concurrency}: signing and approving {want} queries (not timed)…");
            let queries = tokio::task::block_in_place(|| factory.build_many(want, machine.cpus))?;
            let pool = Pool::new(queries);
            if args.warmup > 0.0 {
                let _ = run_phase(
                    &pool,
                    &conns,
                    &trust,
                    &storage,
                    concurrency,
                    Duration::from_secs_f64(args.warmup),
                )
                .await;
            }
            eprintln!("level {concurrency}: measuring for {} s…", args.seconds);
            let phase = run_phase(
                &pool,
                &conns,
                &trust,
                &storage,
                concurrency,
                Duration::from_secs_f64(args.seconds),
            )
            .await;
            let level = phase.summarize(concurrency, want, &crypto);
            eprintln!(
                "level {concurrency}: {:.0} queries/s, p99 {:.2} ms",
                level.queries_per_s, level.p99_ms
            );
            levels.push(level);
        }
        Ok::<(), BenchError>(())
    }
    .await;

    for c in &conns {
        c.close();
    }
    drop(conns);
    requester_node.shutdown().await;
    responder_node.shutdown().await;
    drop(fed);
    result?;

    let setup = vec![
        format!(
            "requester {REQUESTER_NODE} (520000 Guizhou) → responder {RESPONDER_NODE} (440000 Guangdong), \
             both in this process on 127.0.0.1, one tokio runtime ({} worker threads)",
            machine.cpus
        ),
        format!(
            "{} QUIC connection(s), mTLS, opened before timing; requests spread round robin",
            args.connections
        ),
        format!(
            "queries pre-signed by req-1 and approved by apv-1 before timing, each with its own nonce; \
             {BENCH_PURPOSE}, legal basis {BENCH_LEGAL_BASIS}, {} fields of {BENCH_CATEGORY}; \
             3 sample companies round robin, 1 record each ({imported} sample records imported)",
            BENCH_FIELDS.len()
        ),
        "each request through requester::send: the responder verifies both officers and chains \
         (with CRLs), evaluates the policy, durably records the decision with nonce and quota claims \
         (SQLite WAL), waits for a signed log checkpoint covering it, reads and projects, signs; \
         the requester verifies the response signature and chain and the log receipt (checkpoint \
         signature, inclusion proof) and durably logs its side (SQLite WAL)"
            .to_owned(),
        format!(
            "quotas raised to {BENCH_QUOTA_PER_DAY}/day in the throw-away policies (still claimed per query)"
        ),
    ];
    Ok(QueryBenchReport {
        machine,
        started_unix_s,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        setup,
        connections: args.connections,
        seconds_per_level: args.seconds,
        crypto,
        levels,
    })
}

/// Pre-built queries, handed out once each.
pub(crate) struct Pool {
    queries: Vec<AuthorizedQuery>,
    next: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(queries: Vec<AuthorizedQuery>) -> Arc<Pool> {
        Arc::new(Pool {
            queries,
            next: AtomicUsize::new(0),
        })
    }

    pub(crate) fn take(&self) -> Option<(usize, &AuthorizedQuery)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.queries.get(i).map(|q| (i, q))
    }
}

#[derive(Default)]
struct Phase {
    latencies_ns: Vec<u64>,
    outcomes: BTreeMap<String, u64>,
    first_error: Option<String>,
    exhausted: bool,
    elapsed: Duration,
    process_cpu_s: f64,
    machine_busy_s: f64,
}

/// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
pub(crate) fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: state is
    // field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / USER_HZ
}

/// Busy CPU seconds of the whole machine, all cores, from `/proc/stat`.
pub(crate) fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    busy / USER_HZ
}

impl Phase {
    fn merge(&mut self, other: Phase) {
        self.latencies_ns.extend(other.latencies_ns);
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.exhausted |= other.exhausted;
    }

    fn summarize(
        mut self,
        concurrency: usize,
        prebuilt: usize,
        crypto: &CryptoFloor,
    ) -> LevelResult {
        self.latencies_ns.sort_unstable();
        let n = self.latencies_ns.len();
        let pct = |p: f64| {
            if n == 0 {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            self.latencies_ns[rank - 1] as f64 / 1e6
        };
        let seconds = self.elapsed.as_secs_f64();
        let qps = if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        };
        let ratio = |c: f64| if c > 0.0 { qps / c } else { 0.0 };
        let cpu_us = if n > 0 {
            self.process_cpu_s * 1e6 / n as f64
        } else {
            0.0
        };
        let others = if seconds > 0.0 {
            ((self.machine_busy_s - self.process_cpu_s) / seconds).max(0.0)
        } else {
            0.0
        };
        LevelResult {
            concurrency,
            completed: n as u64,
            seconds,
            queries_per_s: qps,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            max_ms: pct(1.0),
            outcomes: self.outcomes,
            first_error: self.first_error,
            prebuilt,
            pool_exhausted: self.exhausted,
            process_cpu_s: self.process_cpu_s,
            cpu_us_per_query: cpu_us,
            others_busy_cores: others,
            cpu_bound_qps: if cpu_us > 0.0 {
                crypto.threads as f64 * 1e6 / cpu_us
            } else {
                0.0
            },
            crypto_share_of_cpu: if cpu_us > 0.0 {
                crypto.crypto_us_per_query_executed / cpu_us
            } else {
                0.0
            },
            ratio_to_ceiling_intrinsic: ratio(crypto.ceiling_qps_intrinsic),
            ratio_to_ceiling_executed: ratio(crypto.ceiling_qps_executed),
        }
    }
}

/// Keep `concurrency` requests in flight for `duration` (or until the pool
/// runs out); the phase ends when the last response is in.
async fn run_phase(
    pool: &Arc<Pool>,
    conns: &[Arc<PeerConnection>],
    trust: &Arc<credex_pki::TrustStore>,
    storage: &Storage,
    concurrency: usize,
    duration: Duration,
) -> Phase {
    let (cpu_before, busy_before) = (process_cpu_s(), machine_busy_s());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let pool = Arc::clone(pool);
        let conns: Vec<Arc<PeerConnection>> = conns.to_vec();
        let trust = Arc::clone(trust);
        let storage = storage.clone();
        tasks.spawn(async move {
            let mut phase = Phase::default();
            while Instant::now() < deadline {
                let Some((i, query)) = pool.take() else {
                    phase.exhausted = true;
                    break;
                };
                let conn = &conns[i % conns.len()];
                let sent = Instant::now();
                let result = requester::send(conn, &trust, &storage, query).await;
                phase
                    .latencies_ns
                    .push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
                let key = match result {
                    Ok(r) => match r.body.outcome {
                        credex_protocol::query::Outcome::Denied => {
                            format!("Denied/{}", r.body.reason)
                        }
                        other => format!("{other:?}"),
                    },
                    Err(e) => {
                        if phase.first_error.is_none() {
                            phase.first_error = Some(e.to_string());
                        }
                        "error".to_owned()
                    }
                };
                *phase.outcomes.entry(key).or_default() += 1;
            }
            phase
        });
    }
    let mut all = Phase::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(p) => all.merge(p),
            Err(e) => {
                *all.outcomes.entry("error".to_owned()).or_default() += 1;
                all.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    all.elapsed = start.elapsed();
    all.process_cpu_s = process_cpu_s() - cpu_before;
    all.machine_busy_s = machine_busy_s() - busy_before;
    all
}

/// The human table.
pub fn render(r: &QueryBenchReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "\ncredex bench query — credex {} on {} CPUs ({}), {} MiB, load {}",
        r.version, m.cpus, m.cpu_model, m.memory_mib, m.load_average
    );
    for line in &r.setup {
        let _ = writeln!(s, "  · {line}");
    }
    let _ = writeln!(
        s,
        "\n{:>11} {:>10} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9} {:>7}  outcomes",
        "concurrency",
        "queries/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "/ceil",
        "/ceil*",
        "CPU µs/q",
        "others"
    );
    for l in &r.levels {
        let outcomes: Vec<String> = l.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            s,
            "{:>11} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>5.0}% {:>5.0}% {:>9.0} {:>7.2}  {}{}",
            l.concurrency,
            l.queries_per_s,
            l.p50_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            100.0 * l.ratio_to_ceiling_intrinsic,
            100.0 * l.ratio_to_ceiling_executed,
            l.cpu_us_per_query,
            l.others_busy_cores,
            outcomes.join(", "),
            if l.pool_exhausted {
                " (ran out of pre-built queries early)"
            } else {
                ""
            }
        );
        if let Some(e) = &l.first_error {
            let _ = writeln!(s, "{:>11} first error: {e}", "");
        }
    }
    let c = &r.crypto;
    let b = &c.budget;
    let _ = writeln!(
        s,
        "\ncrypto floor (ring Ed25519, {}-byte messages): verify {:.0}/s and sign {:.0}/s on one thread; \
         {:.0}/s and {:.0}/s on {} threads",
        c.message_bytes,
        c.verify_per_s_one_thread,
        c.sign_per_s_one_thread,
        c.verify_per_s_all_threads,
        c.sign_per_s_all_threads,
        c.threads
    );
    let _ = writeln!(
        s,
        "one query: responder {} verifications (requester and approver: leaf, region CA, signature) \
         + 1 signature; requester {} verifications (node certificate, region CA, response signature, \
         log checkpoint of the receipt)",
        b.responder_verifies, b.requester_verifies
    );
    let _ = writeln!(
        s,
        "  /ceil : ceiling {:.0} queries/s on {} cores with those {} verifications + {} signature \
         ({:.0} µs of one core per query)",
        c.ceiling_qps_intrinsic,
        c.threads,
        b.intrinsic_verifies(),
        b.signs,
        c.crypto_us_per_query_intrinsic
    );
    let _ = writeln!(
        s,
        "  /ceil*: ceiling {:.0} queries/s with the {} CRL signatures webpki re-verifies per query \
         ({} verifications + {} signature, as executed: {:.0} µs per query)",
        c.ceiling_qps_executed,
        b.crl_verifies,
        b.executed_verifies(),
        b.signs,
        c.crypto_us_per_query_executed
    );
    for l in &r.levels {
        let _ = writeln!(
            s,
            "  at {:>3} concurrent: {:.0} µs CPU per query, of which Ed25519 {:.0}%; \
             the whole machine at that cost: {:.0} queries/s ({:.0}% of /ceil)",
            l.concurrency,
            l.cpu_us_per_query,
            100.0 * l.crypto_share_of_cpu,
            l.cpu_bound_qps,
            if c.ceiling_qps_intrinsic > 0.0 {
                100.0 * l.cpu_bound_qps / c.ceiling_qps_intrinsic
            } else {
                0.0
            }
        );
    }
    let _ = writeln!(
        s,
        "  CPU µs/q: this process's CPU time (both nodes) per query; others: cores other \
         processes kept busy meanwhile (the machine is shared)"
    );
    s
}

/// Write a benchmark report as pretty JSON to `path`.
pub fn write_json(path: &Path, report: &impl Serialize) -> Result<(), BenchError> {
    let fail = |reason: String| BenchError::Json {
        path: path.to_owned(),
        reason,
    };
    let json = serde_json::to_vec_pretty(report).map_err(|e| fail(e.to_string()))?;
    std::fs::write(path, json).map_err(|e| fail(e.to_string()))?;
    println!("JSON written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_quotas_replace_every_quota_and_the_policy_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        let original = include_str!("../../../policies/examples/policy-440000.toml");
        std::fs::write(&path, original).unwrap();
        raise_quotas(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let policy = credex_policies::PolicySet::parse(
            &text,
            "policy.toml",
            &credex_policies::Catalogue::base(),
            &credex_policies::AgreementGroups::builtin(),
        )
        .unwrap();
        let quotas: Vec<u64> = policy
            .rules()
            .iter()
            .filter_map(|r| r.quota())
            .map(|q| q.per_day)
            .collect();
        assert!(!quotas.is_empty(), "the example policy has quotas");
        assert!(
            quotas.iter().all(|&q| q == BENCH_QUOTA_PER_DAY),
            "{quotas:?}"
        );
        assert_eq!(
            text.lines().count(),
            original.lines().count(),
            "only numbers change"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let phase = Phase {
            latencies_ns: (1..=1000u64).rev().map(|ms| ms * 1_000_000).collect(),
            elapsed: Duration::from_secs(2),
            ..Phase::default()
        };
        let floor = floor_from(512, 2, [20_000.0, 40_000.0, 40_000.0, 80_000.0]);
        let level = phase.summarize(64, 1000, &floor);
        assert_eq!(level.completed, 1000);
        assert_eq!(level.queries_per_s, 500.0);
        assert_eq!(level.p50_ms, 500.0);
        assert_eq!(level.p99_ms, 990.0);
        assert_eq!(level.p999_ms, 999.0);
        assert_eq!(level.max_ms, 1000.0);
    }

    #[test]
    fn ceilings_follow_the_signature_count() {
        // 20,000 verifications/s and 40,000 signatures/s per thread: 50 µs
        // and 25 µs; 10 + 1 → 525 µs, 16 + 1 → 825 µs per query.
        let f = floor_from(512, 2, [20_000.0, 40_000.0, 40_000.0, 80_000.0]);
        assert_eq!(f.budget.intrinsic_verifies(), 10);
        assert_eq!(f.budget.executed_verifies(), 16);
        assert!((f.crypto_us_per_query_intrinsic - 525.0).abs() < 1e-6);
        assert!((f.crypto_us_per_query_executed - 825.0).abs() < 1e-6);
        assert!((f.ceiling_qps_intrinsic - 2.0 * 1e6 / 525.0).abs() < 1e-6);
        // Cached chains: 4 message signatures + 1 → 225 µs.
        assert!((f.crypto_us_per_query_cached_chains - 225.0).abs() < 1e-6);
        assert!((f.ceiling_qps_cached_chains - 2.0 * 1e6 / 225.0).abs() < 1e-6);
    }
}
