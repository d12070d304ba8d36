//! The upward channel (数据报送) from a province (520000, gy-1) to the
//! national node (000000, national-1), over real QUIC with real signatures
//! and databases: exactly once across either side killed mid-stream and
//! across partitions longer than the idle timeout (through a fault-injecting
//! relay); backpressure while the national node is down; batches out of
//! sequence refused; 双公示 timeliness with a weekend and a listed holiday;
//! both logs audited; the metrics endpoint scraped over TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use credex_audit as audit;
use credex_journal::{
    BatchPrepared, MessageReceived, MessageSent, ReceivedOutcome, UpwardDeadlineAtRisk,
    kind as fed_kind,
};
use credex_kit::relay::{Link, UdpRelay};
use credex_node::config::NodeConfig;
use credex_node::service::RunningNode;
use credex_node::upward::{self, ReceivedFrom, UpwardStatus};
use credex_policies::egress::{self, ReleasedBody, UpwardCandidate};
use credex_policies::{Catalogue, FieldValue, Record, ReportingList};
use credex_protocol::RegionCode;
use credex_protocol::federation::{DeliveryStatus, Flow};
use credex_protocol::query::{CategoryFields, Outcome, SubjectRef};
use credex_protocol::upward::UpwardBatch;
use credex_tests::{Federation, ask, authorized_query, free_tcp_port, free_udp_port, until_stored};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The idle timeout of every node in these tests.
const IDLE: Duration = Duration::from_secs(2);

fn short_idle(c: &mut NodeConfig) {
    c.transport.idle_timeout = IDLE;
    c.transport.keep_alive = Duration::from_millis(500);
}

/// gy-1 reporting upward to `national` in batches of `batch`, at most
/// `window` unacknowledged.
fn province_config(fed: &Federation, national: SocketAddr, batch: u32, window: u32) -> NodeConfig {
    let mut c = fed.config("gy-1");
    short_idle(&mut c);
    c.upward.enabled = true;
    c.upward.batch_size = batch;
    c.upward.max_in_flight = window;
    c.upward.interval = Duration::from_millis(100);
    for p in &mut c.peers {
        if p.region.is_national() {
            p.addr = national;
        }
    }
    c
}

/// national-1 on `port` (0: any), with a policy that releases 520000's
/// reported penalties to 500000 for supervision.
fn national_config(fed: &Federation, port: u16) -> NodeConfig {
    let mut c = fed.config("national-1");
    short_idle(&mut c);
    c.listen.set_port(port);
    let policy = fed.path().join("national-policy.toml");
    std::fs::write(
        &policy,
        r#"owner = "000000"

[[legal_basis]]
code = "gov-info-disclosure-regulation"
title = "《中华人民共和国政府信息公开条例》"

[[rule]]
id = "reported-penalties"
peers = { regions = ["500000"] }
purposes = ["supervision"]
valid_from = "2024-01-01"
valid_until = "2030-12-31"
subject_authorization = "required"
legal_bases = ["gov-info-disclosure-regulation"]

[[rule.release]]
category = "admin_penalty"
fields = ["decision_number", "decision_date", "amount"]
"#,
    )
    .unwrap();
    c.policy.file = Some(policy);
    c
}

fn subject(i: usize) -> String {
    credex_kit::dev::synthetic_uscc("520000".parse().unwrap(), (i % 40) as u32 + 1)
}

/// Write `n` administrative penalties of 520000 (ids `AP-{first+i}`), decided
/// on `date(i)`.
fn penalties(dir: &Path, first: usize, n: usize, date: impl Fn(usize) -> String) -> PathBuf {
    let mut text = String::new();
    for i in first..first + n {
        text.push_str(&format!(
            r#"{{"record_id":"AP-{i:05}","subject":"{s}","decision_number":"黔罚〔2026〕{i}号","violation_type":"未按规定公示年度报告","facts":"逾期未公示","basis":"《企业信息公示暂行条例》第八条","penalty_type":"罚款","content":"罚款人民币5000元","amount":"5000.00","decision_date":"{d}","deciding_authority":"贵州省市场监督管理局","case_notes":"内部备注：不得外传","officer_phone":"13800000000"}}"#,
            s = subject(i),
            d = date(i),
        ));
        text.push('\n');
    }
    let path = dir.join(format!("penalties-{first}.jsonl"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn import(node: &RunningNode, path: &Path) {
    credex_node::records::import_file(
        node.storage(),
        path,
        "admin_penalty",
        node.queries().policy().catalogue(),
    )
    .await
    .unwrap();
}

/// Wait until `check` holds, checking again after each write of `node`'s
/// store (no polling).
async fn wait_until<F, Fut>(node: &RunningNode, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until_stored(node.storage(), what, check).await;
}

async fn status(node: &RunningNode) -> UpwardStatus {
    let rules = upward::load_rules(node.config(), node.queries().policy().catalogue()).unwrap();
    upward::status(node.storage(), &rules).await.unwrap()
}

async fn received(node: &RunningNode) -> Vec<ReceivedFrom> {
    upward::received(node.storage()).await.unwrap()
}

/// Every journal entry of `node`, as (kind, body).
async fn journal(node: &RunningNode) -> Vec<(u16, Vec<u8>)> {
    let storage = node.storage();
    let len = storage.journal_len().await.unwrap();
    let mut out = Vec::new();
    while (out.len() as u64) < len {
        let page = storage.journal_range(out.len() as u64, 1000).await.unwrap();
        assert!(!page.is_empty());
        out.extend(page.into_iter().map(|r| (r.kind, r.body)));
    }
    out
}

fn upward_received(journal: &[(u16, Vec<u8>)]) -> Vec<MessageReceived> {
    journal
        .iter()
        .filter(|(k, _)| *k == fed_kind::MESSAGE_RECEIVED)
        .map(|(_, b)| credex_protocol::decode::<MessageReceived>(b).unwrap())
        .filter(|m| m.flow == Flow::Upward)
        .collect()
}

fn upward_sent(journal: &[(u16, Vec<u8>)]) -> Vec<MessageSent> {
    journal
        .iter()
        .filter(|(k, _)| *k == fed_kind::MESSAGE_SENT)
        .map(|(_, b)| credex_protocol::decode::<MessageSent>(b).unwrap())
        .filter(|m| m.flow == Flow::Upward)
        .collect()
}

fn prepared(journal: &[(u16, Vec<u8>)]) -> Vec<BatchPrepared> {
    journal
        .iter()
        .filter(|(k, _)| *k == credex_journal::kind::BATCH_PREPARED)
        .map(|(_, b)| credex_protocol::decode::<BatchPrepared>(b).unwrap())
        .collect()
}

/// The province's and the national node's logs agree: batches 0..n made
/// once each, each applied exactly once, every delivery logged on both
/// sides, every record counted once.
async fn assert_exactly_once(province: &RunningNode, national: &RunningNode, records: u64) {
    let p = journal(province).await;
    let n = journal(national).await;
    let made = prepared(&p);
    let seqs: Vec<u64> = made.iter().map(|b| b.seq).collect();
    assert_eq!(
        seqs,
        (0..made.len() as u64).collect::<Vec<_>>(),
        "batches made in sequence"
    );
    assert_eq!(
        made.iter().map(|b| u64::from(b.record_count)).sum::<u64>(),
        records,
        "every record batched once"
    );
    let got = upward_received(&n);
    for b in &made {
        let applied = got
            .iter()
            .filter(|m| m.message_id == b.message_id && m.outcome == ReceivedOutcome::Applied)
            .count();
        assert_eq!(applied, 1, "batch {} applied {applied} times", b.seq);
    }
    assert!(
        got.iter().all(|m| m.outcome != ReceivedOutcome::Applied
            || made.iter().any(|b| b.message_id == m.message_id)),
        "the national node applied a batch the province never made"
    );
    let sent = upward_sent(&p);
    for b in &made {
        let acks: Vec<&MessageSent> = sent
            .iter()
            .filter(|s| s.message_id == b.message_id)
            .collect();
        assert_eq!(acks.len(), 1, "batch {}: one acknowledgement logged", b.seq);
        assert!(matches!(
            acks[0].status,
            DeliveryStatus::Applied | DeliveryStatus::AlreadyApplied
        ));
    }
    let from = received(national).await;
    assert_eq!(from.len(), 1);
    assert_eq!(from[0].region, "520000");
    assert_eq!(from[0].records, records, "records applied once each");
    assert_eq!(from[0].batches, made.len() as u64);
    assert_eq!(from[0].categories.get("admin_penalty"), Some(&records));
    assert_eq!(national.storage().record_count().await.unwrap(), records);
    let s = status(province).await;
    assert_eq!((s.due, s.reported), (records, records));
    assert_eq!(s.reporting_rate, 1.0);
    assert_eq!(s.batches_pending, 0);
    assert_eq!(s.batches_acked, made.len() as u64);
}

async fn export(node: &RunningNode, out: &Path) {
    credex_tests::export_log(node, out).await;
}

/// Export both logs and run the auditor over them.
async fn audit_both(province: &RunningNode, national: &RunningNode) {
    let report = audit_pair(province, national).await;
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.logs.len(), 2);
}

/// Export both logs and verify them together.
async fn audit_pair(province: &RunningNode, national: &RunningNode) -> audit::AuditReport {
    credex_tests::witness_all(&[province, national]).await;
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("gy"), out.path().join("national"));
    export(province, &a).await;
    export(national, &b).await;
    audit::verify(&[a, b], &province.transport().trust().current())
}

/// A node on its own runtime, so the test can kill it without a
/// shutdown: no drain, no clean close, tasks dropped where they stand.
struct Killable {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

impl Killable {
    async fn start(config: NodeConfig) -> Killable {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let node = RunningNode::start(config)
                .await
                .expect("national node starts");
            let _ = tx.send(node.local_addr());
            std::future::pending::<()>().await;
            drop(node);
        });
        let addr = rx.await.unwrap();
        Killable { runtime, addr }
    }

    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

async fn scrape(addr: SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_node_killed_mid_stream_loses_and_duplicates_nothing() {
    let fed = Federation::new();
    let national = Killable::start(national_config(&fed, 0)).await;
    let port = national.addr.port();
    let metrics_port = free_tcp_port();
    let mut pc = province_config(&fed, national.addr, 50, 3);
    pc.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], metrics_port)));
    let province = fed.start_with(pc).await;
    let dir = tempfile::tempdir().unwrap();
    let total = 1200;
    import(
        &province,
        &penalties(dir.path(), 0, total, |_| "2026-03-15".into()),
    )
    .await;

    // Kill the national node while batches are in flight.
    wait_until(&province, "some batches acknowledged", || async {
        status(&province).await.batches_acked >= 3
    })
    .await;
    let before = status(&province).await;
    assert!(
        before.reported < total as u64,
        "killed too late: {before:?}"
    );
    national.kill();
    // The province keeps trying; nothing more is acknowledged while down.
    wait_until(&province, "the province retried while down", || async {
        let pending = province.federation().outbox().await.unwrap();
        pending.first().is_some_and(|m| m.attempts >= 2)
    })
    .await;
    let down = status(&province).await;
    assert!(
        down.batches_pending >= 1 && down.batches_pending <= 3,
        "{down:?}"
    );

    let national_metrics = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    let mut nc = national_config(&fed, port);
    nc.metrics.listen = Some(national_metrics);
    let national = fed.start_with(nc).await;
    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == total as u64
    })
    .await;
    assert_exactly_once(&province, &national, total as u64).await;

    // The national node answers queries about what it received under its
    // own policy, from its own store (region-qualified ids).
    let stored = national
        .storage()
        .records_for(&subject(0), &["admin_penalty".to_owned()])
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|r| r.record_id.starts_with("520000:AP-")));
    let cq = fed.start("cq-1").await;
    let q = authorized_query(
        &fed,
        &cq,
        credex_node::requester::QuerySpec {
            target_region: RegionCode::NATIONAL,
            subject: SubjectRef::LegalPerson(subject(0)),
            purpose: "supervision".into(),
            requested: vec![CategoryFields {
                category: "admin_penalty".into(),
                fields: vec!["decision_number".into(), "amount".into()],
            }],
            legal_basis: Some("gov-info-disclosure-regulation".into()),
            subject_authorization: None,
        },
    );
    let answer = ask(&cq, &national, &q).await;
    assert_eq!(
        answer.body.outcome,
        Outcome::Granted,
        "{:?}",
        answer.body.reason
    );
    assert_eq!(answer.body.records.len(), stored.len());
    let text = scrape(national_metrics, "GET /metrics HTTP/1.1\r\n\r\n").await;
    for series in [
        format!(
            "credex_upward_received_records{{region=\"520000\",category=\"admin_penalty\"}} {total}\n"
        ),
        "credex_queries_total{decision=\"granted\",reason=\"granted\"} 1\n".to_owned(),
    ] {
        assert!(text.contains(&series), "missing {series:?} in\n{text}");
    }

    audit_both(&province, &national).await;

    // The province's metrics endpoint, over TCP.
    let addr = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let text = scrape(addr, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    for series in [
        "credex_upward_reporting_rate 1\n".to_owned(),
        format!("credex_upward_records_due{{category=\"admin_penalty\"}} {total}\n"),
        format!("credex_upward_records_reported{{category=\"admin_penalty\"}} {total}\n"),
        "credex_upward_batches_pending 0\n".to_owned(),
        "credex_federation_outbox_messages{flow=\"upward\"} 0\n".to_owned(),
        "# TYPE credex_log_entries gauge\n".to_owned(),
        "# TYPE credex_log_checkpoint_age_seconds gauge\n".to_owned(),
    ] {
        assert!(text.contains(&series), "missing {series:?} in\n{text}");
    }
    let entries: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("credex_log_entries "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        entries >= 2.0 * (total / 50) as f64,
        "log entries {entries}"
    );
    let missing = scrape(addr, "GET /other HTTP/1.1\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let post = scrape(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let too_long = scrape(addr, &huge).await;
    assert!(too_long.starts_with("HTTP/1.1 431"), "{too_long}");

    cq.shutdown().await;
    province.shutdown().await;
    national.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_longer_than_the_idle_timeout_lose_and_duplicate_nothing() {
    let fed = Federation::new();
    let national = fed.start_with(national_config(&fed, 0)).await;
    let relay = UdpRelay::start(national.local_addr()).await.unwrap();
    let province = fed
        .start_with(province_config(&fed, relay.addr(), 40, 2))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let total = 1000;
    import(
        &province,
        &penalties(dir.path(), 0, total, |_| "2026-03-15".into()),
    )
    .await;

    // A full partition, longer than the idle timeout.
    wait_until(&province, "first batches acknowledged", || async {
        status(&province).await.batches_acked >= 2
    })
    .await;
    let dropped = relay.dropped();
    relay
        .partition_for(IDLE + Duration::from_millis(1500))
        .await;
    assert!(relay.dropped() > dropped, "the partition dropped nothing");

    // Then one where the national node gets the batches but its answers
    // are lost: it applies a batch whose acknowledgement never arrives, so
    // the province must send it again and the national node must not apply
    // it twice.
    let acked = status(&province).await.batches_acked;
    wait_until(&province, "progress after the partition", || async {
        status(&province).await.batches_acked > acked
    })
    .await;
    assert!(
        status(&province).await.reported < total as u64,
        "the stream ended too early"
    );
    relay.set(Link::DownstreamLost);
    wait_until(
        &province,
        "an attempt failed for want of an answer",
        || async {
            let pending = province.federation().outbox().await.unwrap();
            pending
                .first()
                .is_some_and(|m| m.attempts >= 1 && !m.last_error.is_empty())
        },
    )
    .await;
    relay.set(Link::Open);

    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == total as u64
    })
    .await;
    assert_exactly_once(&province, &national, total as u64).await;
    let n = journal(&national).await;
    let duplicates = upward_received(&n)
        .iter()
        .filter(|m| m.outcome == ReceivedOutcome::Duplicate)
        .count();
    assert!(
        duplicates >= 1,
        "no batch was delivered twice; the test proved nothing"
    );
    audit_both(&province, &national).await;
    province.shutdown().await;
    national.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_province_holds_at_most_the_window_while_the_national_node_is_down() {
    let fed = Federation::new();
    let port = free_udp_port();
    let down = SocketAddr::from(([127, 0, 0, 1], port));
    let window = 3;
    let province = fed
        .start_with(province_config(&fed, down, 100, window))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let total = 1000;
    import(
        &province,
        &penalties(dir.path(), 0, total, |_| "2026-03-15".into()),
    )
    .await;
    wait_until(&province, "the window filled", || async {
        status(&province).await.batches_pending == u64::from(window)
    })
    .await;
    // Many reporter passes later, still no more than the window.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = status(&province).await;
    assert_eq!(s.batches_pending, u64::from(window));
    assert_eq!(s.next_seq, u64::from(window));
    assert_eq!(s.due, total as u64, "every record counted as due");
    assert_eq!(s.reported, 0);
    assert_eq!(s.reporting_rate, 0.0);
    assert_eq!(prepared(&journal(&province).await).len(), window as usize);
    assert_eq!(
        province
            .federation()
            .pending_for(RegionCode::NATIONAL)
            .await
            .unwrap(),
        window as usize
    );

    // The national node comes up: the rest flows, acknowledgement by
    // acknowledgement.
    let national = fed.start_with(national_config(&fed, port)).await;
    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == total as u64
    })
    .await;
    assert_exactly_once(&province, &national, total as u64).await;
    province.shutdown().await;
    national.shutdown().await;
}

/// Decision dates relative to today in China (the reported date is the day
/// the national node acknowledges), and a calendar file in `fed`'s folder
/// that makes the first late: a decision 14 days ago has two weekends and a
/// listed holiday before today — 9 working days — so it is late; a decision
/// yesterday is on time. Returns (late, on time, the calendar file).
fn late_and_on_time(fed: &Federation) -> (time::Date, time::Date, PathBuf) {
    let today = credex_flows::calendar::china_date(credex_node::service::now_ms()).unwrap();
    let late = today - time::Duration::days(14);
    let mut holiday = late + time::Duration::days(1);
    while matches!(
        holiday.weekday(),
        time::Weekday::Saturday | time::Weekday::Sunday
    ) {
        holiday += time::Duration::days(1);
    }
    let on_time = today - time::Duration::days(1);
    let mut years: Vec<i32> = vec![late.year(), today.year()];
    years.dedup();
    let calendar = fed.path().join("holidays.toml");
    std::fs::write(
        &calendar,
        format!("years = {years:?}\nholidays = [\"{holiday}\"]\n"),
    )
    .unwrap();
    // The premise: two whole weeks hold two weekends and 10 weekdays, one of
    // them the listed holiday — 9 working days, 2 more than allowed.
    assert!(late < holiday && holiday < today);
    assert!(!matches!(
        holiday.weekday(),
        time::Weekday::Saturday | time::Weekday::Sunday
    ));
    (late, on_time, calendar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_reported_after_seven_working_days_is_late() {
    let fed = Federation::new();
    let (late, on_time, calendar) = late_and_on_time(&fed);

    let national = fed.start_with(national_config(&fed, 0)).await;
    let metrics_port = free_tcp_port();
    let mut pc = province_config(&fed, national.local_addr(), 500, 4);
    pc.upward.holidays = Some(calendar);
    pc.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], metrics_port)));
    let province = fed.start_with(pc).await;
    let dir = tempfile::tempdir().unwrap();
    let dates = [late.to_string(), on_time.to_string()];
    let file = penalties(dir.path(), 0, 2, |i| dates[i].clone());
    import(&province, &file).await;
    wait_until(&province, "both reported", || async {
        status(&province).await.reported == 2
    })
    .await;
    let s = status(&province).await;
    let c = &s.categories[0];
    assert_eq!(
        (c.category.as_str(), c.on_time, c.late, c.undated),
        ("admin_penalty", 1, 1, 0)
    );
    // The reporting list gives admin_penalty the same 7 working days.
    assert_eq!((c.within_deadline, c.past_deadline), (1, 1));
    assert_eq!(s.timeliness_rate, 0.5);
    assert_eq!(s.late.len(), 1);
    assert_eq!(s.late[0].record_id, "AP-00000");
    assert_eq!(s.late[0].decision_date, late.to_string());
    assert!(s.late[0].working_days_late >= 1);

    let text = scrape(
        SocketAddr::from(([127, 0, 0, 1], metrics_port)),
        "GET /metrics HTTP/1.0\r\n\r\n",
    )
    .await;
    for series in [
        "credex_upward_double_publicity_records{category=\"admin_penalty\",timeliness=\"late\"} 1\n",
        "credex_upward_double_publicity_records{category=\"admin_penalty\",timeliness=\"on_time\"} 1\n",
        "credex_upward_timeliness_rate 0.5\n",
        "credex_upward_deadline_records{category=\"admin_penalty\",deadline=\"past\"} 1\n",
    ] {
        assert!(text.contains(series), "missing {series:?} in\n{text}");
    }
    province.shutdown().await;
    national.shutdown().await;
}

/// A 双公示 record past its 7 working days counts as late while it still
/// waits for the national node, in the outbox or not yet batched — not only
/// once acknowledged — and is counted once when the acknowledgement comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_waiting_past_seven_working_days_counts_late_before_it_is_acknowledged() {
    let fed = Federation::new();
    let (late, on_time, calendar) = late_and_on_time(&fed);
    let today = credex_flows::calendar::china_date(credex_node::service::now_ms())
        .unwrap()
        .to_string();
    let port = free_udp_port();
    let down = SocketAddr::from(([127, 0, 0, 1], port));
    let metrics_port = free_tcp_port();
    // One record a batch and one batch unacknowledged: the first record
    // waits in the outbox, the other two behind it, not yet batched.
    let mut pc = province_config(&fed, down, 1, 1);
    pc.upward.holidays = Some(calendar);
    pc.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], metrics_port)));
    let province = fed.start_with(pc).await;
    let dir = tempfile::tempdir().unwrap();
    let dates = [late.to_string(), on_time.to_string(), late.to_string()];
    import(
        &province,
        &penalties(dir.path(), 0, 3, |i| dates[i].clone()),
    )
    .await;
    wait_until(&province, "all due, one batch waiting", || async {
        let s = status(&province).await;
        s.due == 3 && s.batches_pending == 1
    })
    .await;
    let s = status(&province).await;
    let c = &s.categories[0];
    assert_eq!(
        (c.category.as_str(), c.due, c.batched),
        ("admin_penalty", 3, 1)
    );
    assert_eq!((c.reported, c.on_time, c.late), (0, 0, 0));
    // AP-00000 in the outbox and AP-00002 not yet batched are past their
    // 7 working days (the list's deadline for admin_penalty too);
    // AP-00001, decided yesterday, is not.
    assert_eq!((c.overdue, c.past_deadline_waiting), (2, 2));
    assert_eq!((s.overdue, s.overdue_at_least), (2, false));
    assert_eq!(
        s.timeliness_rate, 0.0,
        "nothing on time yet, two late already"
    );
    let text = scrape(
        SocketAddr::from(([127, 0, 0, 1], metrics_port)),
        "GET /metrics HTTP/1.0\r\n\r\n",
    )
    .await;
    for series in [
        "credex_upward_records_overdue{category=\"admin_penalty\",deadline=\"double_publicity\"} 2\n",
        "credex_upward_records_overdue{category=\"admin_penalty\",deadline=\"reporting_list\"} 2\n",
        "credex_upward_timeliness_rate 0\n",
    ] {
        assert!(text.contains(series), "missing {series:?} in\n{text}");
    }
    // The deadline watch raises both: the batch in the outbox, and the
    // record held behind it under the next batch's number — once each,
    // however many passes the reporter makes meanwhile.
    let at_risk = || async {
        let mut raised: Vec<UpwardDeadlineAtRisk> = province
            .storage()
            .journal_range(0, 4096)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.kind == fed_kind::UPWARD_DEADLINE_AT_RISK)
            .map(|r| credex_protocol::decode(&r.body).unwrap())
            .collect();
        raised.sort_by_key(|r| r.seq);
        raised
    };
    wait_until(
        &province,
        "the batch and the held record at risk",
        || async { at_risk().await.len() == 2 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let raised = at_risk().await;
    let [in_outbox, held] = raised.as_slice() else {
        panic!("two deadline entries expected, got {raised:?}");
    };
    assert_eq!(held.seq, in_outbox.seq + 1, "{raised:?}");
    for r in [in_outbox, held] {
        assert_eq!((r.records_at_risk, r.missed), (1, true), "{r:?}");
        assert!(r.earliest_deadline.as_str() < today.as_str(), "{r:?}");
    }

    // The national node comes up: the two are counted late once, and no
    // longer as waiting.
    let national = fed.start_with(national_config(&fed, port)).await;
    wait_until(&province, "all three reported", || async {
        status(&province).await.reported == 3
    })
    .await;
    let s = status(&province).await;
    let c = &s.categories[0];
    assert_eq!(
        (c.on_time, c.late, c.overdue, c.past_deadline_waiting),
        (1, 2, 0, 0)
    );
    assert_eq!(s.overdue, 0);
    assert!((s.timeliness_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_exactly_once(&province, &national, 3).await;
    province.shutdown().await;
    national.shutdown().await;
}

/// An upward batch of one penalty `id` with `fields`, released by the
/// egress gate for the national node.
fn gate_batch(seq: u64, id: &str, fields: &[(&str, &str)]) -> ReleasedBody {
    let record = Record {
        category: "admin_penalty".into(),
        fields: fields
            .iter()
            .map(|(f, v)| ((*f).to_owned(), FieldValue::Text((*v).to_owned())))
            .collect(),
    };
    let (_, body) = egress::release_upward_batch(
        &ReportingList::builtin(),
        &Catalogue::base(),
        seq,
        vec![UpwardCandidate {
            record_id: id.into(),
            subject_key: subject(0),
            record,
            imported_at_ms: 1,
        }],
    )
    .unwrap();
    body
}

/// Queue `body` at `from`, outside the reporter, and wake delivery.
async fn queue(from: &RunningNode, body: ReleasedBody) {
    let (_, write) = from
        .federation()
        .prepare(body, credex_node::service::now_ms())
        .unwrap();
    from.storage().write_state(vec![write]).await.unwrap();
    from.federation().wake();
}

/// Queue a hand-made upward batch from `from` to `to`, outside the
/// reporter (as a province whose state went back, or a buggy one, would).
/// The body is released by the egress gate for the national node; sent
/// anywhere else it goes around the gate (`egress::danger`).
async fn inject(from: &RunningNode, to: RegionCode, seq: u64, id: &str) {
    let body = gate_batch(seq, id, &[("decision_number", id)]);
    let body = if to == RegionCode::NATIONAL {
        body
    } else {
        let (flow, kind) = (body.flow(), body.kind());
        let (payload, record) = body.into_parts();
        egress::danger::release_unchecked(flow, kind, to, payload, record)
    };
    queue(from, body).await;
}

/// A doctored province: the gate released a batch, then the sender added
/// an internal field to the body (keeping the gate's record), or to both
/// the body and the record.
fn doctor(body: ReleasedBody, claim_released: bool) -> ReleasedBody {
    let (flow, kind) = (body.flow(), body.kind());
    let (payload, mut record) = body.into_parts();
    let mut batch: UpwardBatch = credex_protocol::decode(&payload).unwrap();
    let mut r: Record = credex_protocol::decode(&batch.records[0].body).unwrap();
    r.fields.insert(
        "case_notes".into(),
        FieldValue::Text("内部备注：不得外传".into()),
    );
    batch.records[0].body = credex_protocol::encode(&r).unwrap();
    if claim_released {
        record.released[0].fields.push("case_notes".into());
        record.released[0].fields.sort();
    }
    egress::danger::release_unchecked(
        flow,
        kind,
        RegionCode::NATIONAL,
        credex_protocol::encode(&batch).unwrap(),
        record,
    )
}

/// What the gate withholds never reaches the national node; a province
/// that adds a field after the gate is refused, and the auditor flags it
/// in the national node's log (and, when the sender also doctored the
/// record, in its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_the_reporting_catalogue_collects_goes_upward() {
    use credex_pki::{PseudonymKey, PseudonymKeyRing};
    const PERSON: &str = "11010519491231002X";
    let fed = Federation::new();
    let national = fed.start_with(national_config(&fed, 0)).await;
    let ring = PseudonymKeyRing::new([PseudonymKey::from_bytes_in(
        credex_tests::test_suite(),
        1,
        [1; 32],
    )
    .unwrap()])
    .unwrap();
    let ring_file = fed.path().join("pseudonym-keys.txt");
    credex_node::pseudonyms::save_ring(&ring_file, &ring, false).unwrap();
    let mut pc = province_config(&fed, national.local_addr(), 100, 4);
    pc.pseudonyms.keys = Some(ring_file);
    let province = fed.start_with(pc).await;
    let dir = tempfile::tempdir().unwrap();
    import(
        &province,
        &penalties(dir.path(), 0, 3, |_| "2026-03-15".into()),
    )
    .await;
    // An individual business operator (个体工商户), named by citizen ID in
    // the province's own file.
    let person_file = dir.path().join("person.jsonl");
    std::fs::write(
        &person_file,
        format!(
            r#"{{"record_id":"AP-NP-1","subject":"{PERSON}","decision_number":"黔罚〔2026〕77号","facts":"无照经营","decision_date":"2026-03-15","case_notes":"内部备注：不得外传"}}"#
        ),
    )
    .unwrap();
    let persons = credex_node::pseudonyms::NaturalPersons::load(
        province.config(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
    .unwrap();
    credex_node::records::import_file_of_persons(
        province.storage(),
        &person_file,
        "admin_penalty",
        province.queries().policy().catalogue(),
        Some(&persons),
    )
    .await
    .unwrap();
    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == 4
    })
    .await;
    // The person reaches the national node under its pseudonym, never by
    // citizen ID or the province's local key.
    let pseudonym = ring.current_pseudonym(PERSON).unwrap().to_string();
    let of_person = national
        .storage()
        .records_for(&pseudonym, &["admin_penalty".to_owned()])
        .await
        .unwrap();
    assert_eq!(of_person.len(), 1);
    assert!(of_person[0].record_id.ends_with("AP-NP-1"));
    // The province logged what it withheld; the national node holds none of it.
    let p = prepared(&journal(&province).await);
    assert_eq!(
        p[0].withheld,
        [CategoryFields {
            category: "admin_penalty".into(),
            fields: vec!["case_notes".into(), "officer_phone".into()],
        }]
    );
    let stored = national
        .storage()
        .records_for(&subject(0), &["admin_penalty".to_owned()])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let body: Record = credex_protocol::decode(&stored[0].body).unwrap();
    assert!(body.fields.contains_key("facts"));
    assert!(!body.fields.contains_key("case_notes") && !body.fields.contains_key("officer_phone"));
    audit_both(&province, &national).await;

    // Batch 1 with a field added after the gate: refused for good.
    let fields = [("decision_number", "X-1"), ("facts", "x")];
    queue(
        &province,
        doctor(gate_batch(1, "AP-DOCTORED", &fields), false),
    )
    .await;
    wait_until(&province, "the doctored batch refused", || async {
        status(&province).await.batches_refused == 1
    })
    .await;
    let n = journal(&national).await;
    assert!(upward_received(&n).iter().any(|m| matches!(
        &m.outcome,
        ReceivedOutcome::RefusedDigestOnly { reason, .. }
            if reason.contains("admin_penalty.case_notes") && reason.contains("does not release")
    )));
    // The same with a record that claims the field was released.
    queue(
        &province,
        doctor(gate_batch(1, "AP-DOCTORED-2", &fields), true),
    )
    .await;
    wait_until(&province, "the second doctored batch refused", || async {
        status(&province).await.batches_refused == 2
    })
    .await;
    assert_eq!(national.storage().record_count().await.unwrap(), 4);

    let report = audit_pair(&province, &national).await;
    let found = credex_tests::findings(&report);
    let rules = |origin: &str| -> Vec<&str> {
        found
            .iter()
            .filter(|(log, _)| log.contains(origin))
            .map(|(_, rule)| *rule)
            .collect()
    };
    // The national node refused both and kept their digests, not their
    // bodies (decision 0650): its entry names the field beyond the first
    // batch's record; the second batch's false record is re-run, and
    // flagged, in the province's log, where the decision was made.
    assert_eq!(
        rules("000000"),
        ["egress_beyond_release"],
        "{:#?}",
        report.violations
    );
    assert_eq!(
        rules("520000"),
        ["egress_decision"],
        "{:#?}",
        report.violations
    );
    province.shutdown().await;
    national.shutdown().await;
}

/// `n` penalties of `subject(0)` (ids `{prefix}-{i}`) released by the gate
/// as batch `seq`.
fn gate_batch_of_one_subject(seq: u64, prefix: &str, n: usize) -> ReleasedBody {
    let candidates = (0..n)
        .map(|i| UpwardCandidate {
            record_id: format!("{prefix}-{i:04}"),
            subject_key: subject(0),
            record: Record {
                category: "admin_penalty".into(),
                fields: [(
                    "decision_number".to_owned(),
                    FieldValue::Text(format!("黔罚〔2026〕{i}号")),
                )]
                .into_iter()
                .collect(),
            },
            imported_at_ms: 1,
        })
        .collect();
    egress::release_upward_batch(
        &ReportingList::builtin(),
        &Catalogue::base(),
        seq,
        candidates,
    )
    .unwrap()
    .1
}

/// Issue 13 §5: a province cannot make a company unqueryable at the
/// national node — a body whose value does not fit its field, or batches
/// that would give one subject more records than a query returns, are
/// refused on receipt, and queries on the company keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_national_node_refuses_bodies_it_could_not_serve() {
    let fed = Federation::new();
    let national = fed.start_with(national_config(&fed, 0)).await;
    let province = fed
        .start_with(province_config(&fed, national.local_addr(), 100, 4))
        .await;
    let dir = tempfile::tempdir().unwrap();
    import(
        &province,
        &penalties(dir.path(), 0, 3, |_| "2026-03-15".into()),
    )
    .await;
    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == 3
    })
    .await;

    // A date that is not a date: refused, naming the record and the field.
    queue(
        &province,
        gate_batch(
            1,
            "AP-BAD",
            &[("decision_number", "X-1"), ("decision_date", "someday")],
        ),
    )
    .await;
    wait_until(&province, "the ill-typed batch refused", || async {
        status(&province).await.batches_refused == 1
    })
    .await;
    assert!(
        upward_received(&journal(&national).await)
            .iter()
            .any(|m| matches!(
                &m.outcome,
                ReceivedOutcome::RefusedDigestOnly { reason, .. }
                    if reason.contains("record 0: admin_penalty.decision_date")
            ))
    );

    // 1 + 500 + 500 records of one company are fine; 30 more would be
    // more than a query returns.
    for (seq, prefix) in [(1, "AP-A"), (2, "AP-B")] {
        queue(&province, gate_batch_of_one_subject(seq, prefix, 500)).await;
    }
    wait_until(
        &national,
        "a thousand more records of one company",
        || async { national.storage().record_count().await.unwrap() == 1003 },
    )
    .await;
    queue(&province, gate_batch_of_one_subject(3, "AP-C", 30)).await;
    wait_until(&province, "the batch over the cap refused", || async {
        status(&province).await.batches_refused == 2
    })
    .await;
    assert!(upward_received(&journal(&national).await).iter().any(|m| matches!(
        &m.outcome,
        ReceivedOutcome::RefusedDigestOnly { reason, .. }
            if reason.contains("would hold 1031 records here, more than the 1024 a query returns")
    )));
    assert_eq!(national.storage().record_count().await.unwrap(), 1003);
    let held = national
        .storage()
        .records_for(&subject(0), &["admin_penalty".to_owned()])
        .await
        .unwrap();
    assert_eq!(held.len(), 1001, "queries on the company still work");
    province.shutdown().await;
    national.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_out_of_sequence_or_to_a_province_are_not_applied() {
    let fed = Federation::new();
    let national = fed.start_with(national_config(&fed, 0)).await;
    let mut cqc = fed.config("cq-1");
    short_idle(&mut cqc);
    let cq = fed.start_with(cqc).await;
    let mut pc = province_config(&fed, national.local_addr(), 100, 4);
    for p in &mut pc.peers {
        if p.region.to_string() == "500000" {
            p.addr = cq.local_addr();
        }
    }
    let province = fed.start_with(pc).await;
    let dir = tempfile::tempdir().unwrap();
    let total = 150;
    import(
        &province,
        &penalties(dir.path(), 0, total, |_| "2026-03-15".into()),
    )
    .await;
    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == total as u64
    })
    .await;

    // Batch 0 again, under a new message id: refused for good.
    inject(&province, RegionCode::NATIONAL, 0, "AP-REPLAY").await;
    wait_until(&province, "the replayed batch refused", || async {
        status(&province).await.batches_refused == 1
    })
    .await;
    let n = journal(&national).await;
    assert!(upward_received(&n).iter().any(|m| matches!(
        &m.outcome,
        ReceivedOutcome::RefusedDigestOnly { reason, .. } if reason.contains("already applied")
    )));

    // A batch from the future: refused for now, retried, never applied.
    inject(&province, RegionCode::NATIONAL, 7, "AP-GAP").await;
    wait_until(&province, "the gap refused at least twice", || async {
        let out = province.federation().outbox().await.unwrap();
        out.len() == 1 && out[0].attempts >= 2
    })
    .await;
    let out = province.federation().outbox().await.unwrap();
    assert!(
        out[0].last_error.contains("arrived before batch 2"),
        "{}",
        out[0].last_error
    );

    // A province does not take upward reports.
    inject(&province, "500000".parse().unwrap(), 0, "AP-SIDEWAYS").await;
    wait_until(&province, "the province refused it", || async {
        status(&province).await.batches_refused == 2
    })
    .await;
    assert!(upward::received(cq.storage()).await.unwrap().is_empty());
    assert_eq!(cq.storage().record_count().await.unwrap(), 0);

    // Nothing of it reached the national node's records or counts.
    let from = received(&national).await;
    assert_eq!((from[0].records, from[0].batches), (total as u64, 2));
    assert_eq!(
        national.storage().record_count().await.unwrap(),
        total as u64
    );
    assert!(
        national
            .storage()
            .records_for(&subject(0), &["admin_penalty".to_owned()])
            .await
            .unwrap()
            .iter()
            .all(|r| !r.record_id.contains("REPLAY") && !r.record_id.contains("GAP"))
    );
    // The batch sent sideways went around the gate: the auditor says so.
    let report = audit_pair(&province, &national).await;
    let found = credex_tests::findings(&report);
    assert_eq!(
        found,
        [("credex/520000/gy-1", "egress_decision")],
        "{:#?}",
        report.violations
    );
    assert!(report.violations[0].detail.contains("not 500000"));
    province.shutdown().await;
    cq.shutdown().await;
    national.shutdown().await;
}

/// The reporter's scan: every record once, in import order, paged, on one
/// backend; a re-imported record moves to its new import time.
async fn scan_in_import_order(storage: &credex_node::storage::Storage) {
    use credex_node::storage::{ImportCursor, RecordRow};
    let rows = |ids: &[&str]| -> Vec<RecordRow> {
        ids.iter()
            .map(|id| RecordRow {
                category: "admin_penalty".into(),
                record_id: (*id).into(),
                subject_key: "k".into(),
                body: vec![1],
                copy_of: None,
            })
            .collect()
    };
    let t0 = credex_node::service::now_ms();
    let all = ["b", "a", "Z", "é-1", "e-2", "汉", "a-"];
    storage.import_records(rows(&all)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    storage.import_records(rows(&["c", "a"])).await.unwrap();
    let mut cursor = ImportCursor::default();
    let mut seen = Vec::new();
    loop {
        let page = storage
            .records_imported(&cursor, i64::MAX, 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        for r in page {
            let at = ImportCursor {
                imported_at_unix_ms: r.imported_at_unix_ms,
                category: r.category.clone(),
                record_id: r.record_id.clone(),
            };
            assert!(at > cursor, "{at:?} does not follow {cursor:?}");
            cursor = at;
            seen.push(r.record_id);
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(&seen[6..], ["a", "c"], "the re-imported record moved last");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 8);
    // Nothing imported before the first import.
    let before = storage
        .records_imported(&ImportCursor::default(), t0, 10)
        .await
        .unwrap();
    assert!(before.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_scanned_in_import_order_on_sqlite_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = credex_node::storage::Storage::open_sqlite(&dir.path().join("s.db"))
        .await
        .unwrap();
    scan_in_import_order(&sqlite).await;
    sqlite.close().await;

    let Some(url) = credex_tests::postgres_url() else {
        eprintln!("PostgreSQL test skipped (CREDEX_SKIP_POSTGRES=1)");
        return;
    };
    let schema = format!("credex_upward_{}", std::process::id());
    let pg = credex_node::storage::Storage::open_postgres(&url, Some(&schema))
        .await
        .unwrap();
    scan_in_import_order(&pg).await;
    credex_node::storage::danger::execute_raw(&pg, &format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
    pg.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_killed_mid_stream_resumes_where_it_stopped() {
    let fed = Federation::new();
    let national = fed.start_with(national_config(&fed, 0)).await;
    let config = province_config(&fed, national.local_addr(), 50, 2);
    // Import before starting the reporter, through the same database.
    let dir = tempfile::tempdir().unwrap();
    let total = 1000;
    let file = penalties(dir.path(), 0, total, |_| "2026-03-15".into());
    let province = Killable::start(config.clone()).await;
    let storage = credex_node::service::open_storage(&config).await.unwrap();
    let catalogue = credex_node::query::load_policy(config.region, &config.policy).unwrap();
    credex_node::records::import_file(&storage, &file, "admin_penalty", catalogue.catalogue())
        .await
        .unwrap();
    storage.close().await;

    // Kill the province while it is reporting (no shutdown, no drain).
    wait_until(&national, "some batches applied", || async {
        received(&national)
            .await
            .first()
            .is_some_and(|p| p.batches >= 3)
    })
    .await;
    province.kill();
    let applied = received(&national).await[0].records;
    assert!(applied < total as u64, "killed too late");

    let province = fed.start_with(config).await;
    wait_until(&province, "every record reported", || async {
        status(&province).await.reported == total as u64
    })
    .await;
    assert_exactly_once(&province, &national, total as u64).await;
    audit_both(&province, &national).await;
    province.shutdown().await;
    national.shutdown().await;
}
