//! The gateway's event feed over real HTTPS, fed by real federation
//! messages over QUIC: a list entry pushed from Chongqing appears in
//! Guizhou's feed with what was released, a long-poll wakes when the next
//! one arrives, and a consumer reading by cursor across a restart of the
//! node sees every event exactly once.

#![allow(clippy::unwrap_used)]

use credex_kit::gateway_client::GatewayClient;
use credex_node::config::{GatewayConfig, NodeConfig};
use credex_node::lists::{EntryDraft, Lists, ListsPolicy};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::lists::{ListKind, NoticeMeans, SubjectNotice};
use credex_tests::gateway::{client, connect_as};
use credex_tests::{Federation, within};
use serde_json::Value;

fn gy_config(fed: &Federation) -> NodeConfig {
    let mut config = fed.config("gy-1");
    config.gateway = Some(GatewayConfig::on("127.0.0.1:0".parse().unwrap()));
    config
}

/// Chongqing's node, dialling Guizhou at `gy`'s address.
async fn start_cq(fed: &Federation, gy: &RunningNode) -> RunningNode {
    let mut config = fed.config("cq-1");
    for peer in &mut config.peers {
        if peer.name.as_str() == "gy-1" {
            peer.addr = gy.local_addr();
        }
    }
    fed.start_with(config).await
}

/// Chongqing lists its `n`th sample company; the entry goes to Guizhou
/// under the Chongqing–Guizhou agreement.
async fn cq_lists(cq: &RunningNode, n: usize) {
    let lists = Lists::new(cq.federation().clone(), ListsPolicy::builtin());
    let draft = EntryDraft {
        subject: credex_tests::subjects("500000")[n].clone(),
        list_type: ListKind::SeriousDishonesty,
        basis: "行政处罚决定书 渝市监处〔2026〕7号".into(),
        authority: "重庆市市场监督管理局".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2029-11-01".into(),
        measures: vec!["restrict_government_procurement".into()],
        notice: SubjectNotice {
            date: "2026-10-20".into(),
            means: NoticeMeans::Written,
        },
        details: Default::default(),
    };
    lists.add(&draft, now_ms()).await.unwrap();
}

async fn page(conn: &mut GatewayClient, query: &str) -> Value {
    let r = within("events", conn.get(&format!("/v1/events{query}")))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn list_events(page: &Value) -> Vec<Value> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "list.entry_received")
        .cloned()
        .collect()
}

/// Read from `after` until `want` list entries have been seen in all.
async fn read_until(
    conn: &mut GatewayClient,
    after: &mut String,
    seen: &mut Vec<Value>,
    want: usize,
) {
    while seen.len() < want {
        let p = page(conn, &format!("?after={after}&wait=10")).await;
        seen.extend(list_events(&p));
        *after = p["next"].as_str().unwrap().to_owned();
    }
}

#[tokio::test]
async fn events_arrive_in_order_wake_a_long_poll_and_survive_a_restart_exactly_once() {
    let fed = Federation::new();
    let gy = fed.start_with(gy_config(&fed)).await;
    let gy_quic = gy.local_addr();
    let cq = start_cq(&fed, &gy).await;
    let consumer = client(&fed, "520000", "approval-system", "events");
    let mut conn = connect_as(&fed, &gy, &consumer).await;

    // A list entry pushed from Chongqing appears with what was released.
    cq_lists(&cq, 0).await;
    let mut after = "0".to_owned();
    let mut seen = Vec::new();
    read_until(&mut conn, &mut after, &mut seen, 1).await;
    let first = &seen[0];
    assert_eq!(first["from"]["region"], "500000");
    assert_eq!(first["from"]["node"], "cq-1");
    assert_eq!(first["details"]["list_type"], "serious_dishonesty");
    assert_eq!(
        first["details"]["subject"]["LegalPerson"],
        credex_tests::subjects("500000")[0]
    );

    // A long-poll waits for the next one and wakes when it lands.
    let poll = {
        let after = after.clone();
        let mut conn = connect_as(&fed, &gy, &consumer).await;
        tokio::spawn(async move { page(&mut conn, &format!("?after={after}&wait=20")).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "the long-poll returned before there was an event"
    );
    cq_lists(&cq, 1).await;
    let woke = within("long-poll", poll).await.unwrap();
    assert!(!woke["events"].as_array().unwrap().is_empty(), "{woke}");
    read_until(&mut conn, &mut after, &mut seen, 2).await;

    // Guizhou restarts (same database, same QUIC port); Chongqing lists a
    // third company while it is down, then the consumer reads on from its
    // cursor: the third entry once, the first two not again.
    drop(conn);
    gy.shutdown().await;
    cq_lists(&cq, 2).await;
    let mut config = gy_config(&fed);
    config.listen = gy_quic;
    let gy = fed.start_with(config).await;
    let mut conn = connect_as(&fed, &gy, &consumer).await;
    read_until(&mut conn, &mut after, &mut seen, 3).await;
    let tail = page(&mut conn, &format!("?after={after}&wait=1")).await;
    assert!(list_events(&tail).is_empty(), "{tail}");
    let subjects: Vec<Value> = seen
        .iter()
        .map(|e| e["details"]["subject"]["LegalPerson"].clone())
        .collect();
    let expected: Vec<Value> = credex_tests::subjects("500000")[..3]
        .iter()
        .map(|s| Value::from(s.as_str()))
        .collect();
    assert_eq!(subjects, expected, "each entry exactly once, in order");

    // From the start again: the same three, in the same order.
    let all = page(&mut conn, "?after=0&limit=1000").await;
    let again: Vec<Value> = list_events(&all)
        .iter()
        .map(|e| e["details"]["subject"]["LegalPerson"].clone())
        .collect();
    assert_eq!(again, expected);
    cq.shutdown().await;
    gy.shutdown().await;
}

#[tokio::test]
async fn limits_cursors_and_roles_are_checked() {
    let fed = Federation::new();
    let gy = fed.start_with(gy_config(&fed)).await;
    let cq = start_cq(&fed, &gy).await;
    cq_lists(&cq, 0).await;
    cq_lists(&cq, 1).await;
    let consumer = client(&fed, "520000", "approval-system", "events");
    let mut conn = connect_as(&fed, &gy, &consumer).await;
    let mut after = "0".to_owned();
    let mut seen = Vec::new();
    read_until(&mut conn, &mut after, &mut seen, 2).await;

    // limit=1 pages one event at a time, each cursor moving on.
    let one = page(&mut conn, "?limit=1").await;
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    let next = one["next"].as_str().unwrap().to_owned();
    assert_eq!(one["events"][0]["cursor"], next.as_str());
    let two = page(&mut conn, &format!("?after={next}&limit=1")).await;
    assert_ne!(two["events"][0]["cursor"], one["events"][0]["cursor"]);

    for (query, what) in [
        ("?after=abc", "after"),
        ("?limit=0", "limit"),
        ("?wait=31", "wait"),
        ("?cursor=1", "cursor"),
    ] {
        let r = conn.get(&format!("/v1/events{query}")).await.unwrap();
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(
            r.json()["type"],
            "urn:credex:problem:query-invalid",
            "{query}"
        );
        assert!(
            r.json()["detail"].as_str().unwrap().contains(what),
            "{query}: {}",
            r.json()
        );
    }

    // A system without role `events` is refused, and the refusal journaled.
    let checker = client(&fed, "520000", "tendering-system", "check");
    let mut other = connect_as(&fed, &gy, &checker).await;
    let r = other.get("/v1/events").await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["type"], "urn:credex:problem:role-missing");
    let journal = gy.storage().journal_range(0, 4096).await.unwrap();
    assert!(
        journal
            .iter()
            .any(|e| e.kind == credex_journal::kind::GATEWAY_REFUSED)
    );
    cq.shutdown().await;
    gy.shutdown().await;
}

#[tokio::test]
async fn an_unacknowledged_upward_batch_past_its_deadline_raises_one_event() {
    let fed = Federation::new();
    let mut config = gy_config(&fed);
    config.upward.enabled = true;
    config.upward.interval = std::time::Duration::from_millis(100);
    // The national node is down: nothing listens where its peer entry points.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for peer in &mut config.peers {
        if peer.region.is_national() {
            peer.addr = closed;
        }
    }
    let gy = fed.start_with(config).await;
    let who = client(&fed, "520000", "credit-platform", "feed,events");
    let mut conn = connect_as(&fed, &gy, &who).await;

    // A penalty decided in January (双公示: 7 working days) is fed today.
    let company = credex_tests::subjects("520000")[0].clone();
    let line = serde_json::json!({
        "source": "market-regulation", "seq": 1, "op": "upsert",
        "record": {
            "category": "admin_penalty", "record_id": "QZ-2026-0001", "subject": company,
            "decision_number": "黔市监罚〔2026〕1号", "penalty_type": "罚款",
            "amount": "500.00", "decision_date": "2026-01-05"
        }
    });
    let r = conn
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("application/x-ndjson"),
            &[("Idempotency-Key", "late-1")],
            format!("{line}\n").into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let mut after = "0".to_owned();
    let event = within("the deadline event", async {
        loop {
            let p = page(&mut conn, &format!("?after={after}&wait=10")).await;
            if let Some(e) = p["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == "upward.deadline_at_risk")
            {
                return e.clone();
            }
            after = p["next"].as_str().unwrap().to_owned();
        }
    })
    .await;
    assert_eq!(event["details"]["missed"], true, "{event}");
    assert!(
        event["details"]["records_at_risk"].as_u64().unwrap() >= 1,
        "{event}"
    );
    assert_eq!(
        event["details"]["earliest_deadline"], "2026-01-14",
        "{event}"
    );

    // Later passes do not raise it again.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let journal = gy.storage().journal_range(0, 4096).await.unwrap();
    let raised = journal
        .iter()
        .filter(|r| r.kind == credex_journal::kind::UPWARD_DEADLINE_AT_RISK)
        .count();
    assert_eq!(raised, 1);
    gy.shutdown().await;
}
