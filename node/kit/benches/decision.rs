//! The responder's decision path per request, without the network
//! (issue 3, "Benchmark"): signature and chain checks, policy evaluation,
//! projection, and `QueryService::answer` through real SQLite storage.
//!
//! Run: `cargo bench -p credex-kit --bench decision` (about a minute).
//! Figures and how to read them: `docs/performance.md`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use credex_flows::query::policy_request;
use credex_journal::kind;
use credex_kit::bench::{
    BENCH_CATEGORY, BenchFederation, QueryFactory, REQUESTER_NODE, RESPONDER_NODE,
};
use credex_node::boot::{NodeIdentity, load_credentials};
use credex_node::config::StorageTarget;
use credex_node::query::{QueryService, load_policy};
use credex_node::service::{load_trust, open_storage};
use credex_node::storage::{AccessClaim, QuotaClaim, Storage};
use credex_node::tls::FederationTrust;
use credex_node::transport::PeerIdentity;
use credex_pki::authorization::{QueryContext, verify_authorized_query};
use credex_pki::{Purpose as CertPurpose, TrustStore};
use credex_policies::{AccessRequest, PolicySet, QuotaUsage, Record, evaluate};
use credex_protocol::query::{AuthorizedQuery, Outcome};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use rustls_pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;

/// Everything the benchmarks share, built once.
struct Fixture {
    fed: BenchFederation,
    trust: Arc<TrustStore>,
    trust_without_crls: TrustStore,
    ctx: QueryContext,
    policy: PolicySet,
    by_basis: AuthorizedQuery,
    by_authorization: AuthorizedQuery,
    records: Vec<Record>,
}

fn fixture() -> Fixture {
    let fed = BenchFederation::create().expect("benchmark federation");
    let gy = fed.config(REQUESTER_NODE).expect("requester config");
    let gz = fed.config(RESPONDER_NODE).expect("responder config");
    let trust = Arc::new(load_trust(&gz.tls).expect("trust"));
    let root_pem = std::fs::read_to_string(&gz.tls.root).expect("root");
    let trust_without_crls = TrustStore::from_pem(&root_pem, &[]).expect("trust without CRLs");
    let policy = load_policy(gz.region, &gz.policy).expect("policy");
    let factory = QueryFactory::new(&fed, gy.region, gy.name.clone(), gz.region).expect("factory");
    let by_basis = factory.build(0).expect("query");
    let by_authorization = QueryFactory::new(&fed, gy.region, gy.name.clone(), gz.region)
        .expect("factory")
        .with_subject_authorization(&fed, 1_000_000)
        .expect("subject authorization")
        .build(0)
        .expect("query with authorization");
    let records = fed
        .sample_records(gz.region, BENCH_CATEGORY, policy.catalogue())
        .expect("records");
    let ctx = QueryContext {
        responder_region: gz.region,
        peer_region: gy.region,
        peer_node: gy.name.clone(),
        now: UnixTime::now(),
        max_clock_skew_ms: gz.policy.max_clock_skew.as_millis() as i64,
    };
    Fixture {
        fed,
        trust,
        trust_without_crls,
        ctx,
        policy,
        by_basis,
        by_authorization,
        records,
    }
}

/// The policy's view of a query, built exactly as the node builds it.
fn access_request(f: &Fixture, q: &AuthorizedQuery) -> AccessRequest {
    let verified = verify_authorized_query(q, &f.trust, &f.ctx).expect("verifies");
    policy_request(
        q,
        q.request.requester_region,
        verified.subject_authorization(),
    )
    .expect("a valid request")
}

fn now_time() -> OffsetDateTime {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).expect("time")
}

fn quick<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn benches(c: &mut Criterion) {
    let f = fixture();

    // (a) All signature and chain checks of one dual-authorized query, and
    //     the pieces they are made of.
    {
        let mut g = quick(c, "verify");
        g.bench_function("authorized_query/legal_basis", |b| {
            b.iter(|| verify_authorized_query(&f.by_basis, &f.trust, &f.ctx).expect("verifies"))
        });
        g.bench_function("authorized_query/subject_authorization", |b| {
            b.iter(|| {
                verify_authorized_query(&f.by_authorization, &f.trust, &f.ctx).expect("verifies")
            })
        });
        let chain = &f.by_basis.requester.chain;
        let leaf = CertificateDer::from(chain[0].as_slice());
        let rest: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        g.bench_function("chain/with_crls", |b| {
            b.iter(|| {
                f.trust
                    .verify(&leaf, &rest, f.ctx.now, CertPurpose::Signing)
                    .expect("chain")
            })
        });
        g.bench_function("chain/without_crls", |b| {
            b.iter(|| {
                f.trust_without_crls
                    .verify(&leaf, &rest, f.ctx.now, CertPurpose::Signing)
                    .expect("chain")
            })
        });
        g.bench_function("parse_certificate", |b| {
            b.iter(|| credex_pki::identity_from_der(&chain[0]).expect("parses"))
        });
        g.finish();
    }

    // (b) Policy evaluation alone.
    {
        let mut g = quick(c, "evaluate");
        let now = now_time();
        let basis = access_request(&f, &f.by_basis);
        let auth = access_request(&f, &f.by_authorization);
        g.bench_function("legal_basis", |b| {
            b.iter(|| evaluate(&basis, &f.policy, now, &QuotaUsage::default()))
        });
        g.bench_function("subject_authorization", |b| {
            b.iter(|| evaluate(&auth, &f.policy, now, &QuotaUsage::default()))
        });
        g.finish();
    }

    // (c) The pure path: verify + evaluate + project the sample records.
    {
        let mut g = quick(c, "pure_path");
        let records = &f.records;
        g.bench_function(
            format!("verify_evaluate_project_{}_records", records.len()),
            |b| {
                b.iter(|| {
                    let verified =
                        verify_authorized_query(&f.by_basis, &f.trust, &f.ctx).expect("verifies");
                    std::hint::black_box(&verified);
                    let request = policy_request(
                        &f.by_basis,
                        f.by_basis.request.requester_region,
                        verified.subject_authorization(),
                    )
                    .expect("a valid request");
                    let decision =
                        evaluate(&request, &f.policy, now_time(), &QuotaUsage::default());
                    assert_eq!(decision.outcome(), credex_policies::Outcome::Granted);
                    records
                        .iter()
                        .map(|r| decision.project(r))
                        .collect::<Vec<_>>()
                })
            },
        );
        g.finish();
    }

    // (d) QueryService::answer through SQLite in the temporary directory:
    //     verify, quota read, evaluate, durable claimed append (nonce, quota),
    //     record read, projection, response signature.
    answer_benches(c, &f);
}

fn answer_benches(c: &mut Criterion, f: &Fixture) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let gy = f.fed.config(REQUESTER_NODE).expect("config");
    let gz = f.fed.config(RESPONDER_NODE).expect("config");
    let (service, storage) = rt.block_on(async {
        let storage = open_storage(&gz).await.expect("storage");
        let policy = load_policy(gz.region, &gz.policy).expect("policy");
        f.fed
            .import_samples(&storage, &gz, policy.catalogue())
            .await
            .expect("import");
        let identity = NodeIdentity::load(&gz).expect("identity");
        let checkpoints = credex_node::log::Checkpoints::spawn(
            storage.clone(),
            identity.log_key,
            None,
            &tokio_util::task::TaskTracker::new(),
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .expect("checkpointer");
        let service = Arc::new(QueryService::new(
            &gz,
            policy,
            FederationTrust::new(load_trust(&gz.tls).expect("trust")),
            storage.clone(),
            identity.signing_key,
            identity.chain,
            checkpoints,
        ));
        (service, storage)
    });
    let gy_creds = load_credentials(&gy).expect("credentials");
    let peer = Arc::new(PeerIdentity {
        region: gy.region,
        name: gy.name.clone(),
        fingerprint: gy_creds.identity.fingerprint,
        certificate: gy_creds.chain[0].to_vec(),
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    });
    let factory = Arc::new(
        QueryFactory::new(&f.fed, gy.region, gy.name.clone(), gz.region).expect("factory"),
    );

    let db = match &gz.storage {
        StorageTarget::Sqlite(path) => path.clone(),
        StorageTarget::Postgres { .. } => panic!("the dev federation uses SQLite"),
    };
    storage_benches(c, &rt, &storage, &db, &f.by_basis);

    let mut g = c.benchmark_group("answer");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    // One at a time: the latency of one query, durable append included.
    g.bench_function("sequential", |b| {
        b.iter_custom(|iters| {
            let queries = factory.build_many(iters as usize, 2).expect("queries");
            let start = Instant::now();
            rt.block_on(async {
                for q in &queries {
                    let r = service.answer(&peer, q).await.expect("answered");
                    assert_eq!(r.body.outcome, Outcome::Granted, "{}", r.body.reason);
                }
            });
            start.elapsed()
        })
    });
    // 64 in flight: time per query when the storage writer batches appends.
    g.bench_function("64_in_flight", |b| {
        b.iter_custom(|iters| {
            let queries = Arc::new(factory.build_many(iters as usize, 2).expect("queries"));
            let next = Arc::new(AtomicUsize::new(0));
            let start = Instant::now();
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..64 {
                    let (queries, next) = (Arc::clone(&queries), Arc::clone(&next));
                    let (service, peer) = (Arc::clone(&service), Arc::clone(&peer));
                    tasks.spawn(async move {
                        while let Some(q) = queries.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let r = service.answer(&peer, q).await.expect("answered");
                            assert_eq!(r.body.outcome, Outcome::Granted, "{}", r.body.reason);
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
            });
            start.elapsed()
        })
    });
    g.finish();
}

/// The storage steps `answer` takes besides the pure path, one at a time:
/// the quota read, the claimed durable append (nonce, quota, the bundle as
/// attachment, the journal record), the record read.
fn storage_benches(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    storage: &Storage,
    db: &std::path::Path,
    q: &AuthorizedQuery,
) {
    let bundle = credex_protocol::encode(q).expect("encodes");
    let subject = credex_node::query::subject_key(&q.request.subject);
    let categories = vec![BENCH_CATEGORY.to_owned()];
    let mut g = c.benchmark_group("storage");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("quota_used", |b| {
        b.iter(|| rt.block_on(storage.quota_used("520000", 0)).expect("read"))
    });
    g.bench_function("records_for", |b| {
        b.iter(|| {
            rt.block_on(storage.records_for(&subject, &categories))
                .expect("read")
        })
    });
    // The same primary-key read as `quota_used`, on a pool of our own over
    // the same file: with sqlx's default liveness ping on every acquire,
    // and without it (what the storage's pools could be set to).
    for ping in [true, false] {
        let pool = rt
            .block_on(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(ping)
                    .connect_with(
                        sqlx::sqlite::SqliteConnectOptions::new()
                            .filename(db)
                            .read_only(true),
                    ),
            )
            .expect("pool");
        let name = if ping {
            "sqlx_select/ping_on_acquire"
        } else {
            "sqlx_select/no_ping"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(
                    sqlx::query_scalar::<_, i64>(
                        "SELECT used FROM quota_usage WHERE peer = ?1 AND window_start_unix_ms = ?2",
                    )
                    .bind("520000")
                    .bind(0_i64)
                    .fetch_optional(&pool),
                )
                .expect("read")
            })
        });
        rt.block_on(pool.close());
    }
    g.bench_function("append_claimed/sequential", |b| {
        b.iter(|| {
            let claim = AccessClaim {
                requester_region: "520000".to_owned(),
                nonce: credex_node::requester::random_id(),
                nonce_expires_at_unix_ms: i64::MAX,
                authorization_use: None,
                quota: Some(QuotaClaim {
                    peer: "520000".to_owned(),
                    window_start_unix_ms: 0,
                    limit: u32::MAX,
                }),
            };
            let digest = credex_journal::sha256(&claim.nonce);
            rt.block_on(storage.append_claimed(
                kind::QUERY_RECEIVED,
                claim,
                Some(credex_node::storage::Attachment::new(
                    digest,
                    bundle.clone(),
                )),
                |_| vec![0u8; 400],
            ))
            .expect("append")
        })
    });
    g.finish();
}

criterion_group!(decision, benches);
criterion_main!(decision);
