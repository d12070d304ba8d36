//! Corrections reach every recipient (经手必有责), over real QUIC, HTTPS,
//! signatures and databases: Guizhou's platform feeds two penalties; Chongqing
//! and Guangdong query them, and the reporter sends them upward; the platform
//! then corrects one and deletes the other. Every region that received a
//! record is sent a correction and confirms it; each recipient marks its
//! copy; a recipient that never confirms is flagged by the owner and by the
//! auditor, and the logs of an honest federation audit clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use credex_journal::{Channel, record_key};
use credex_kit::gateway_client::GatewayClient;
use credex_node::config::GatewayConfig;
use credex_node::corrections::{CorrectionStatus, received, sent};
use credex_node::service::RunningNode;
use credex_protocol::query::Outcome;
use credex_protocol::rights::RecordChange;
use credex_tests::gateway::{GUIZHOU, client, connect_as};
use credex_tests::{
    Federation, ask, audit_all, authorized_query, findings, gy_penalty_query, until_stored,
    until_stored_some, witness_all,
};
use serde_json::{Value, json};

fn change(seq: u64, op: &str, record_id: &str, subject: &str, amount: u32) -> Value {
    let mut record =
        json!({"category": "admin_penalty", "record_id": record_id, "subject": subject});
    if op == "upsert" {
        record["decision_number"] = json!(format!("黔市监罚〔2026〕{seq}号"));
        record["penalty_type"] = json!("罚款");
        record["amount"] = json!(format!("{amount}.00"));
        record["decision_date"] = json!("2026-03-15");
    }
    json!({"source": "market", "seq": seq, "op": op, "record": record})
}

async fn feed(conn: &mut GatewayClient, key: &str, lines: &[Value]) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = conn
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("application/x-ndjson"),
            &[("Idempotency-Key", key)],
            body.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// The owner's tracks of the corrections of `record_id`.
async fn tracks(gy: &RunningNode, record_id: &str) -> Vec<CorrectionStatus> {
    let key = hex::encode(record_key("admin_penalty", record_id));
    sent(gy.storage())
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.record == key)
        .collect()
}

/// The regions that confirmed a correction of `record_id`.
async fn confirmed(gy: &RunningNode, record_id: &str) -> BTreeSet<String> {
    tracks(gy, record_id)
        .await
        .into_iter()
        .filter(|t| t.confirmed_at_ms.is_some())
        .map(|t| t.recipient.to_string())
        .collect()
}

fn set(regions: &[&str]) -> BTreeSet<String> {
    regions.iter().map(|r| r.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_reaches_every_region_that_received_the_record() {
    let fed = Federation::new();
    let mut nodes = fed
        .start_wired_with(&["national-1", "gy-1", "cq-1", "gz-1"], |c| {
            if c.region.to_string() == GUIZHOU {
                credex_tests::release_penalties_to_chongqing_and_guangdong(&fed, c);
                c.gateway = Some(GatewayConfig::on("127.0.0.1:0".parse().unwrap()));
            }
        })
        .await;
    let gz = nodes.pop().unwrap();
    let (national, gy, cq) = (&nodes[0], &nodes[1], &nodes[2]);
    let subject = credex_tests::subjects(GUIZHOU)[0].clone();
    let platform = client(&fed, GUIZHOU, "credit-platform", "feed");
    let mut conn = connect_as(&fed, gy, &platform).await;
    feed(
        &mut conn,
        "first",
        &[
            change(1, "upsert", "C-1", &subject, 5000),
            change(2, "upsert", "C-2", &subject, 800),
        ],
    )
    .await;

    // Two regions ask; the reporter sends both records upward.
    for asker in [cq, &gz] {
        let q = authorized_query(&fed, asker, gy_penalty_query(&subject));
        let answer = ask(asker, gy, &q).await;
        assert_eq!(answer.body.outcome, Outcome::Granted);
        let ids: BTreeSet<&str> = answer
            .body
            .records
            .iter()
            .map(|r| r.record_id.as_str())
            .collect();
        assert!(ids.contains("C-1") && ids.contains("C-2"), "{ids:?}");
    }
    let c2 = record_key("admin_penalty", "C-2");
    until_stored(gy.storage(), "both records reported upward", || async {
        credex_node::disclosures::recipients(gy.storage(), &c2)
            .await
            .unwrap()
            .iter()
            .any(|d| d.recipient.is_national())
    })
    .await;
    // No correction for records no region has seen changed.
    assert!(sent(gy.storage()).await.unwrap().is_empty());

    // The platform corrects C-1 and deletes C-2.
    feed(
        &mut conn,
        "second",
        &[
            change(3, "upsert", "C-1", &subject, 500),
            change(4, "delete", "C-2", &subject, 0),
        ],
    )
    .await;
    until_stored(gy.storage(), "every recipient confirms", || async {
        confirmed(gy, "C-2").await == set(&["000000", "440000", "500000"])
            && set(&["440000", "500000"]).is_subset(&confirmed(gy, "C-1").await)
    })
    .await;
    for t in tracks(gy, "C-2").await {
        assert_eq!(t.change, "deleted");
    }
    // Each recipient marks its copy.
    for node in [cq, &gz, national] {
        let marked = received(node.storage()).await.unwrap();
        let deleted = marked
            .iter()
            .find(|(owner, record, _)| owner.to_string() == GUIZHOU && *record == hex::encode(c2))
            .unwrap_or_else(|| panic!("{} has no correction of C-2", node.config().region));
        assert_eq!(deleted.2.change, RecordChange::Deleted);
        let kinds = credex_tests::event_kinds(node).await;
        assert!(
            kinds.iter().any(|k| k == "record.correction_received"),
            "{kinds:?}"
        );
    }

    // Honest: the four logs audit clean, corrections and all.
    let all = [national, gy, cq, &gz];
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    let gy_log = report
        .logs
        .iter()
        .find(|l| l.origin.contains(GUIZHOU))
        .unwrap();
    assert!(gy_log.corrections >= 5, "{gy_log:?}");

    // Guangdong goes away; C-1 changes again. Chongqing confirms, Guangdong
    // never does: the owner and the auditor both say so.
    gz.shutdown().await;
    let third_at = credex_node::service::now_ms();
    feed(
        &mut conn,
        "third",
        &[change(5, "upsert", "C-1", &subject, 50)],
    )
    .await;
    let pending = until_stored_some(
        gy.storage(),
        "every recipient but Guangdong confirms the third change",
        || async {
            let latest: Vec<CorrectionStatus> = tracks(gy, "C-1")
                .await
                .into_iter()
                .filter(|t| t.changed_at_ms >= third_at)
                .collect();
            let others_confirmed = latest
                .iter()
                .filter(|t| t.recipient.to_string() != "440000")
                .all(|t| t.confirmed_at_ms.is_some());
            let chongqing = latest.iter().any(|t| t.recipient.to_string() == "500000");
            (chongqing && others_confirmed).then_some(latest)
        },
    )
    .await;
    let to_gz = pending
        .iter()
        .find(|t| t.recipient.to_string() == "440000")
        .expect("Guangdong was sent the correction");
    assert_eq!(to_gz.confirmed_at_ms, None, "Guangdong is down");

    let running = [national, gy, cq];
    witness_all(&running).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&running, dir.path()).await;
    let unconfirmed: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.rule == "correction_unconfirmed")
        .collect();
    assert_eq!(unconfirmed.len(), 1, "{:?}", findings(&report));
    assert!(
        unconfirmed[0].detail.contains("440000"),
        "{}",
        unconfirmed[0].detail
    );
    assert!(unconfirmed[0].log.contains(GUIZHOU));
    for node in nodes {
        node.shutdown().await;
    }
}

/// A record queried by one region, pushed with a listing to two, and
/// reported upward: a bulk re-import corrects it at all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_queried_pushed_and_reported_is_corrected_everywhere_after_a_reimport() {
    let fed = Federation::new();
    let (nodes, subject, record) = credex_tests::penalty_queried_by_guangdong(&fed).await;
    let (national, gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let key = record_key("admin_penalty", &record);
    // Guizhou lists the company on the penalty: pushed to Chongqing and
    // Guangdong. A record that is not the company's is refused.
    let lists = credex_tests::lists::lists(gy);
    let e = lists
        .add_resting_on(
            &credex_tests::lists::serious_dishonesty(&subject),
            "admin_penalty",
            "520000-AP-0003",
            credex_node::service::now_ms(),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("does not hold for the subject"),
        "{e}"
    );
    let added = lists
        .add_resting_on(
            &credex_tests::lists::serious_dishonesty(&subject),
            "admin_penalty",
            &record,
            credex_node::service::now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(added.sent_to.len(), 2);
    let expected: BTreeSet<(String, Channel)> = [
        ("000000".to_owned(), Channel::Upward),
        ("440000".to_owned(), Channel::ListPush),
        ("440000".to_owned(), Channel::Query),
        ("500000".to_owned(), Channel::ListPush),
    ]
    .into();
    until_stored(gy.storage(), "the record is reported upward", || async {
        let got: BTreeSet<(String, Channel)> =
            credex_node::disclosures::recipients(gy.storage(), &key)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.recipient.to_string(), d.channel))
                .collect();
        got == expected
    })
    .await;

    // The same files imported again: every region that received the
    // record is corrected, and confirms.
    credex_tests::import_samples(&fed, gy, GUIZHOU).await;
    let hex_key = hex::encode(key);
    until_stored(gy.storage(), "every recipient confirms", || async {
        let to: BTreeSet<String> = sent(gy.storage())
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.record == hex_key && t.confirmed_at_ms.is_some())
            .map(|t| t.recipient.to_string())
            .collect();
        to == set(&["000000", "440000", "500000"])
    })
    .await;
    let all = [national, gy, cq, gz];
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_reimport_corrects_the_records_other_regions_received() {
    let fed = Federation::new();
    let nodes = fed
        .start_wired_with(&["gy-1", "gz-1"], |c| {
            if c.region.to_string() == GUIZHOU {
                credex_tests::release_penalties_to_chongqing_and_guangdong(&fed, c);
                c.upward.enabled = false;
            }
        })
        .await;
    let (gy, gz) = (&nodes[0], &nodes[1]);
    credex_tests::import_samples(&fed, gy, GUIZHOU).await;
    let subject = credex_tests::subjects(GUIZHOU)[1].clone();
    let answer = ask(
        gz,
        gy,
        &authorized_query(&fed, gz, gy_penalty_query(&subject)),
    )
    .await;
    let asked: BTreeSet<String> = answer
        .body
        .records
        .iter()
        .map(|r| hex::encode(record_key(&r.category, &r.record_id)))
        .collect();
    assert!(!asked.is_empty());

    // The same files imported again: the records Guangdong received are
    // corrected there, and only those.
    credex_tests::import_samples(&fed, gy, GUIZHOU).await;
    let corrected = until_stored_some(gy.storage(), "Guangdong confirms", || async {
        let sent = sent(gy.storage()).await.unwrap();
        (!sent.is_empty() && sent.iter().all(|t| t.confirmed_at_ms.is_some())).then_some(sent)
    })
    .await;
    let records: BTreeSet<String> = corrected.iter().map(|t| t.record.clone()).collect();
    assert_eq!(records, asked);
    assert!(
        corrected
            .iter()
            .all(|t| t.recipient.to_string() == "440000")
    );
    for node in nodes {
        node.shutdown().await;
    }
}
