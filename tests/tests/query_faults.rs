//! Queries cut by faults, and the auditor (issue 12, item 6; decision
//! 0620). The requester logs "sent, awaiting answer" before a query leaves
//! and "no answer" when it gives up, so a release whose answer was lost is
//! in both logs and is no violation, while a release the requester's log
//! knows nothing of still is.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use credex_audit as audit;
use credex_journal::{QueryIntent, QueryNoAnswer, kind};
use credex_kit::relay::{Link, UdpRelay};
use credex_node::config::logical_server_name;
use credex_node::requester::{self, QuerySpec};
use credex_node::service::RunningNode;
use credex_pki::authorization::query_digest;
use credex_protocol::query::Outcome;
use credex_protocol::{NodeName, RegionCode};
use credex_tests::{Federation, authorized_query, findings, import_samples, subjects, within};

/// A penalty query to Guangdong under the joint-punishment legal basis,
/// which Guangdong's development policy grants to Guizhou.
fn penalties(subject: &str) -> QuerySpec {
    credex_tests::gz_penalty_query(subject, &["decision_number", "amount"])
}

/// The bodies of `node`'s journal entries of kind `k`.
async fn journal(node: &RunningNode, k: u16) -> Vec<Vec<u8>> {
    node.storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == k)
        .map(|r| r.body)
        .collect()
}

async fn export(node: &RunningNode, out: &Path) {
    credex_tests::export_log(node, out).await;
}

async fn audit_both(gy: &RunningNode, gz: &RunningNode) -> audit::AuditReport {
    credex_tests::witness_all(&[gy, gz]).await;
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("gy"), out.path().join("gz"));
    export(gy, &a).await;
    export(gz, &b).await;
    audit::verify(&[a, b], &gy.transport().trust().current())
}

/// gy-1 (1 s idle timeout, so a lost answer ends quickly) and gz-1 with
/// Guangdong's sample records, and a relay in front of gz-1.
async fn through_a_relay(fed: &Federation) -> (RunningNode, RunningNode, UdpRelay) {
    let mut c = fed.config("gy-1");
    c.transport.idle_timeout = Duration::from_secs(1);
    c.transport.keep_alive = Duration::from_millis(300);
    let gy = fed.start_with(c).await;
    let gz = fed.start("gz-1").await;
    import_samples(fed, &gz, "440000").await;
    let relay = UdpRelay::start(gz.local_addr()).await.unwrap();
    (gy, gz, relay)
}

/// A connection from gy-1 to gz-1 through the relay.
async fn connect(gy: &RunningNode, relay: &UdpRelay) -> credex_node::transport::PeerConnection {
    let region: RegionCode = "440000".parse().unwrap();
    let name: NodeName = "gz-1".parse().unwrap();
    within(
        "dial",
        gy.transport().connect(
            relay.addr(),
            &logical_server_name(region, &name),
            region,
            Some(name),
        ),
    )
    .await
    .unwrap()
}

/// Send `query` over a fresh connection through the relay, setting `link`
/// once connected; gy-1 logs into `storage`.
async fn ask_via(
    gy: &RunningNode,
    relay: &UdpRelay,
    link: Link,
    storage: &credex_node::storage::Storage,
    query: &credex_protocol::query::AuthorizedQuery,
) -> Result<credex_protocol::query::QueryResponse, requester::RequesterError> {
    let conn = connect(gy, relay).await;
    relay.set(link);
    let trust = gy.transport().trust().current();
    let r = within("query", requester::send(&conn, &trust, storage, query)).await;
    relay.set(Link::Open);
    conn.close();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_cut_at_every_point_leave_no_audit_violation() {
    let fed = Federation::new();
    let (gy, gz, relay) = through_a_relay(&fed).await;
    let s = subjects("440000");

    // Answered.
    let answered = authorized_query(&fed, &gy, penalties(&s[0]));
    let r = ask_via(&gy, &relay, Link::Open, gy.storage(), &answered)
        .await
        .unwrap();
    assert_eq!(r.body.outcome, Outcome::Granted);

    // Cut after the responder released and logged: the answer is lost.
    let lost = authorized_query(&fed, &gy, penalties(&s[1]));
    let lost_digest = query_digest(&lost).unwrap();
    let err = ask_via(&gy, &relay, Link::DownstreamLost, gy.storage(), &lost)
        .await
        .unwrap_err();
    let released_at_gz = within("the responder's entry", async {
        loop {
            let received = journal(&gz, kind::QUERY_RECEIVED).await;
            if received.iter().any(|b| {
                let e: credex_journal::AccessEntry = credex_protocol::decode(b).unwrap();
                e.query_digest == lost_digest
            }) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(released_at_gz);

    // Cut before the responder got it: nothing at the responder.
    let unsent = authorized_query(&fed, &gy, penalties(&s[2]));
    let unsent_digest = query_digest(&unsent).unwrap();
    assert!(
        ask_via(&gy, &relay, Link::Partitioned, gy.storage(), &unsent)
            .await
            .is_err()
    );

    // The requester logged every query before it left, and both failures.
    let intents: Vec<QueryIntent> = journal(&gy, kind::QUERY_INTENT)
        .await
        .iter()
        .map(|b| credex_protocol::decode(b).unwrap())
        .collect();
    assert_eq!(intents.len(), 3);
    let no_answer: Vec<QueryNoAnswer> = journal(&gy, kind::QUERY_NO_ANSWER)
        .await
        .iter()
        .map(|b| credex_protocol::decode(b).unwrap())
        .collect();
    let digests: Vec<[u8; 32]> = no_answer.iter().map(|n| n.query_digest).collect();
    assert!(digests.contains(&lost_digest), "{err}");
    assert!(digests.contains(&unsent_digest));
    assert_eq!(no_answer.len(), 2);

    // The audit: no violation; the lost answer is counted, in both logs.
    let report = audit_both(&gy, &gz).await;
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.answers_lost, [hex::encode(lost_digest)]);
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_really_one_sided_access_is_still_caught() {
    let fed = Federation::new();
    let (gy, gz, relay) = through_a_relay(&fed).await;
    let s = subjects("440000");
    // gy-1 asks but keeps its side of the exchange in a shadow database:
    // its own log never hears of the query.
    let shadow_dir = tempfile::tempdir().unwrap();
    let mut shadow_config = gy.config().clone();
    shadow_config.storage =
        credex_node::config::StorageTarget::Sqlite(shadow_dir.path().join("shadow.db"));
    let shadow = credex_node::service::open_storage(&shadow_config)
        .await
        .unwrap();
    let hidden = authorized_query(&fed, &gy, penalties(&s[0]));
    let r = ask_via(&gy, &relay, Link::Open, &shadow, &hidden)
        .await
        .unwrap();
    assert_eq!(r.body.outcome, Outcome::Granted);
    shadow.close().await;

    let report = audit_both(&gy, &gz).await;
    let found = findings(&report);
    assert_eq!(
        found,
        [("credex/440000/gz-1", "access_missing_at_requester")],
        "{:#?}",
        report.violations
    );
    assert_eq!(
        report.violations[0].access.as_deref(),
        Some(hex::encode(query_digest(&hidden).unwrap()).as_str())
    );
    assert!(report.answers_lost.is_empty());
    gy.shutdown().await;
    gz.shutdown().await;
}
