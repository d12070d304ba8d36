//! The live record feed over real HTTPS (issue 15 item 3, decision 0830):
//! batches applied whole or not at all, exactly once per Idempotency-Key,
//! in per-source sequence, across restarts, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use credex_kit::gateway_client::{GatewayClient, GatewayResponse};
use credex_node::config::StorageTarget;
use credex_node::service::RunningNode;
use credex_tests::gateway::{GUIZHOU, client, connect_as, start_with_gateway};
use credex_tests::{Federation, subjects};
use serde_json::{Value, json};

const NDJSON: &str = "application/x-ndjson";

/// One upsert of an administrative penalty of `subject`.
fn upsert(source: &str, seq: u64, record_id: &str, subject: &str, amount: u32) -> Value {
    json!({
        "source": source,
        "seq": seq,
        "op": "upsert",
        "record": {
            "category": "admin_penalty",
            "record_id": record_id,
            "subject": subject,
            "decision_number": format!("黔市监罚〔2026〕{seq}号"),
            "penalty_type": "罚款",
            "amount": format!("{amount}.00"),
            "decision_date": "2026-03-15"
        }
    })
}

fn delete(source: &str, seq: u64, record_id: &str, subject: &str) -> Value {
    json!({
        "source": source,
        "seq": seq,
        "op": "delete",
        "record": {"category": "admin_penalty", "record_id": record_id, "subject": subject}
    })
}

fn ndjson(lines: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

async fn feed(conn: &mut GatewayClient, key: &str, body: Vec<u8>) -> GatewayResponse {
    conn.call_with_headers(
        "POST",
        "/v1/records",
        Some(NDJSON),
        &[("Idempotency-Key", key)],
        body,
    )
    .await
    .unwrap()
}

async fn penalties(
    node: &RunningNode,
    subject_key: &str,
) -> Vec<credex_node::storage::StoredRecord> {
    node.storage()
        .records_for(subject_key, &["admin_penalty".to_owned()])
        .await
        .unwrap()
}

/// The bodies of every entry of `kind` in the node's journal.
fn amount_of(record: &credex_node::storage::StoredRecord) -> String {
    let r: credex_policies::Record = credex_protocol::decode(&record.body).unwrap();
    format!("{:?}", r.fields["amount"])
}

/// A feed client of the node.
async fn platform(fed: &Federation, node: &RunningNode) -> GatewayClient {
    let who = client(fed, GUIZHOU, "credit-platform", "feed");
    connect_as(fed, node, &who).await
}

#[tokio::test]
async fn a_batch_applies_and_its_records_are_queryable_and_journaled() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let mut conn = platform(&fed, &node).await;
    let [a, b, _] = <[String; 3]>::try_from(subjects(GUIZHOU)).unwrap();
    let person = credex_kit::dev::sample_persons(GUIZHOU.parse().unwrap()).remove(0);

    let first = ndjson(&[
        upsert("market", 1, "F-1", &a, 100),
        upsert("market", 2, "F-2", &b, 200),
        upsert("courts", 1, "F-3", &person, 300),
    ]);
    let r = feed(&mut conn, "batch-1", first).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({"applied": 3, "upserted": 3, "deleted": 0, "sources": [
            {"source": "market", "last_seq": 2}, {"source": "courts", "last_seq": 1}]})
    );
    assert_eq!(penalties(&node, &a).await.len(), 1);
    assert_eq!(penalties(&node, &b).await.len(), 1);
    // The person's record is stored under the node's subject key, never the ID.
    let persons = credex_node::pseudonyms::NaturalPersons::load(
        node.config(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
    .expect("the dev federation configures a key ring");
    let key = persons.vault.subject_key(&person);
    assert_ne!(key, person);
    assert_eq!(penalties(&node, &key).await.len(), 1);
    assert!(penalties(&node, &person).await.is_empty());

    // A replacement and a delete.
    let second = ndjson(&[
        upsert("market", 3, "F-1", &a, 999),
        delete("market", 4, "F-2", &b),
    ]);
    let r = feed(&mut conn, "batch-2", second).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["upserted"], 1);
    assert_eq!(r.json()["deleted"], 1);
    let replaced = penalties(&node, &a).await;
    assert_eq!(replaced.len(), 1);
    assert!(
        amount_of(&replaced[0]).contains("999"),
        "{}",
        amount_of(&replaced[0])
    );
    assert!(penalties(&node, &b).await.is_empty(), "F-2 is deleted");

    // Journaled: one entry per source and batch, naming digests only.
    let fed_entries: Vec<credex_journal::RecordsFed> =
        credex_tests::entries_of_kind(&node, credex_journal::kind::RECORDS_FED)
            .await
            .iter()
            .map(|b| postcard::from_bytes(b).unwrap())
            .collect();
    let summary: Vec<_> = fed_entries
        .iter()
        .map(|e| {
            (
                e.source.as_str(),
                e.sequences,
                e.upserted,
                e.deleted,
                e.subjects.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("market", (1, 2), 2, 0, 2),
            ("courts", (1, 1), 1, 0, 1),
            ("market", (3, 4), 1, 1, 2)
        ]
    );
    assert_eq!(
        fed_entries[0].client.identity,
        "urn:credex:client:520000:feed:credit-platform"
    );
    let journal = node.storage().journal_range(0, 4096).await.unwrap();
    assert!(
        journal
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains(&person)),
        "a clear citizen ID reached the journal"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_applies_once_and_refuses_another_body() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let mut conn = platform(&fed, &node).await;
    let a = subjects(GUIZHOU).remove(0);
    let body = ndjson(&[
        upsert("market", 1, "I-1", &a, 1),
        upsert("market", 2, "I-2", &a, 2),
    ]);

    let first = feed(&mut conn, "retry-me", body.clone()).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let records = node.storage().record_count().await.unwrap();
    let journal = node.storage().journal_len().await.unwrap();

    let again = feed(&mut conn, "retry-me", body.clone()).await;
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.body, first.body, "a retry gets the stored answer");
    assert_eq!(node.storage().record_count().await.unwrap(), records);
    assert_eq!(node.storage().journal_len().await.unwrap(), journal);

    let other = ndjson(&[upsert("market", 3, "I-3", &a, 3)]);
    let conflict = feed(&mut conn, "retry-me", other.clone()).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(
        conflict.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        conflict.json()["type"],
        "urn:credex:problem:idempotency-conflict"
    );
    assert_eq!(node.storage().record_count().await.unwrap(), records);
    assert_eq!(node.storage().journal_len().await.unwrap(), journal);

    // No key at all is refused before anything is read.
    let r = conn
        .call("POST", "/v1/records", Some(NDJSON), other.clone())
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["type"],
        "urn:credex:problem:idempotency-key-missing"
    );
    // The body under a new key applies.
    assert_eq!(feed(&mut conn, "next", other).await.status, 200);
    assert_eq!(node.storage().record_count().await.unwrap(), records + 1);

    // One change as application/json is a batch of one; other media types
    // are refused.
    let one = upsert("market", 4, "I-4", &a, 4).to_string().into_bytes();
    let r = conn
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("application/json"),
            &[("Idempotency-Key", "single")],
            one.clone(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["sources"][0]["last_seq"], 4);
    let r = conn
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("text/csv"),
            &[("Idempotency-Key", "csv")],
            one,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(
        r.json()["type"],
        "urn:credex:problem:unsupported-media-type"
    );
    assert_eq!(node.storage().record_count().await.unwrap(), records + 2);
    node.shutdown().await;
}

#[tokio::test]
async fn a_bad_line_refuses_the_whole_batch_naming_line_and_field() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let mut conn = platform(&fed, &node).await;
    let a = subjects(GUIZHOU).remove(0);
    let records = node.storage().record_count().await.unwrap();
    let journal = node.storage().journal_len().await.unwrap();

    let mut lines: Vec<Value> = (1..=5)
        .map(|n| upsert("market", n, &format!("B-{n}"), &a, 10))
        .collect();
    lines[2]["record"]["amount"] = json!("a lot");
    let r = feed(&mut conn, "bad-3", ndjson(&lines)).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let problem = r.json();
    assert_eq!(problem["type"], "urn:credex:problem:field-invalid");
    assert_eq!(problem["line"], 3);
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["field"], "/record/amount");
    assert_eq!(errors[0]["type"], "urn:credex:problem:field-invalid");
    assert_eq!(node.storage().record_count().await.unwrap(), records);
    assert_eq!(node.storage().journal_len().await.unwrap(), journal);
    assert_eq!(node.storage().feed_last_seq("market").await.unwrap(), 0);

    // A malformed line, an unknown member and a subject with a wrong check
    // character are each named; the clear subject is never echoed.
    let person = credex_kit::dev::sample_persons(GUIZHOU.parse().unwrap()).remove(0);
    let wrong = format!(
        "{}{}",
        &person[..17],
        if person.ends_with('1') { '2' } else { '1' }
    );
    let mut lines: Vec<Value> = (1..=4)
        .map(|n| upsert("market", n, &format!("B-{n}"), &a, 10))
        .collect();
    lines[1]["record"]["colour"] = json!("red");
    lines[3]["record"]["subject"] = json!(wrong);
    let mut body = ndjson(&lines);
    body.extend_from_slice(b"{\"source\": \"market\", \"seq\": 5,\n");
    let r = feed(&mut conn, "bad-many", body).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let named: Vec<(u64, String, String)> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["type"].as_str().unwrap().to_owned(),
                e["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (
                2,
                "urn:credex:problem:field-invalid".into(),
                "/record/colour".into()
            ),
            (
                4,
                "urn:credex:problem:field-invalid".into(),
                "/record/subject".into()
            ),
            (5, "urn:credex:problem:body-malformed".into(), String::new()),
        ]
    );
    assert!(!String::from_utf8_lossy(&r.body).contains(&wrong[..14]));
    assert_eq!(node.storage().record_count().await.unwrap(), records);

    // The corrected batch applies from seq 1: nothing of the refused ones counted.
    let good: Vec<Value> = (1..=5)
        .map(|n| upsert("market", n, &format!("B-{n}"), &a, 10))
        .collect();
    let r = feed(&mut conn, "good", ndjson(&good)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(node.storage().record_count().await.unwrap(), records + 5);
    node.shutdown().await;
}

#[tokio::test]
async fn a_sequence_gap_or_rewind_names_the_line() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let mut conn = platform(&fed, &node).await;
    let a = subjects(GUIZHOU).remove(0);
    let r = feed(
        &mut conn,
        "s-1",
        ndjson(&[
            upsert("market", 1, "S-1", &a, 1),
            upsert("market", 2, "S-2", &a, 2),
        ]),
    )
    .await;
    assert_eq!(r.status, 200);
    let records = node.storage().record_count().await.unwrap();

    let gap = ndjson(&[
        upsert("courts", 1, "S-9", &a, 9),
        upsert("market", 3, "S-3", &a, 3),
        upsert("market", 5, "S-5", &a, 5),
    ]);
    let r = feed(&mut conn, "s-2", gap).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["type"], "urn:credex:problem:sequence-gap");
    let errors = r.json()["errors"].clone();
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["field"], "/seq");
    assert!(
        errors[0]["detail"]
            .as_str()
            .unwrap()
            .contains("expected seq 4"),
        "{errors}"
    );

    let rewind = ndjson(&[upsert("market", 2, "S-2", &a, 2)]);
    let r = feed(&mut conn, "s-3", rewind).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["errors"][0]["line"], 1);
    assert!(
        r.json()["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("rewind")
    );
    assert_eq!(node.storage().record_count().await.unwrap(), records);
    assert_eq!(node.storage().feed_last_seq("market").await.unwrap(), 2);
    assert_eq!(node.storage().feed_last_seq("courts").await.unwrap(), 0);
    node.shutdown().await;
}

#[tokio::test]
async fn a_client_without_role_feed_is_refused_and_the_refusal_journaled() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let checker = client(&fed, GUIZHOU, "approval-system", "check");
    let mut conn = connect_as(&fed, &node, &checker).await;
    let a = subjects(GUIZHOU).remove(0);
    let records = node.storage().record_count().await.unwrap();

    let r = feed(&mut conn, "k", ndjson(&[upsert("market", 1, "R-1", &a, 1)])).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["type"], "urn:credex:problem:role-missing");
    assert_eq!(node.storage().record_count().await.unwrap(), records);
    let refused: Vec<credex_journal::GatewayRefused> =
        credex_tests::entries_of_kind(&node, credex_journal::kind::GATEWAY_REFUSED)
            .await
            .iter()
            .map(|b| postcard::from_bytes(b).unwrap())
            .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].operation, "POST /v1/records");
    assert_eq!(refused[0].problem, "role-missing");
    assert_eq!(refused[0].client.fingerprint, checker.identity.fingerprint);
    node.shutdown().await;
}

#[tokio::test]
async fn an_oversized_batch_is_refused_with_413() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let mut conn = platform(&fed, &node).await;
    let a = subjects(GUIZHOU).remove(0);
    let line = ndjson(&[upsert("market", 1, "O-1", &a, 1)]);
    let limit = credex_node::gateway::feed::MAX_FEED_BODY;
    let body: Vec<u8> = line.iter().copied().cycle().take(limit + 1).collect();
    let r = feed(&mut conn, "big", body).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["type"], "urn:credex:problem:body-too-large");
    assert_eq!(node.storage().feed_last_seq("market").await.unwrap(), 0);
    node.shutdown().await;
}

/// Feed two batches, restart the node on the same store, and check that
/// sequences, records and idempotency records are still there.
async fn sequences_survive_a_restart_on(fed: &Federation, config: credex_node::config::NodeConfig) {
    let a = subjects(GUIZHOU).remove(0);
    let who = client(fed, GUIZHOU, "credit-platform", "feed");
    let node = fed.start_with(config.clone()).await;
    let mut conn = connect_as(fed, &node, &who).await;
    let first = ndjson(&[
        upsert("market", 1, "P-1", &a, 1),
        upsert("market", 2, "P-2", &a, 2),
    ]);
    let applied = feed(&mut conn, "p-1", first.clone()).await;
    assert_eq!(
        applied.status,
        200,
        "{}",
        String::from_utf8_lossy(&applied.body)
    );
    node.shutdown().await;

    let node = fed.start_with(config).await;
    let mut conn = connect_as(fed, &node, &who).await;
    assert_eq!(node.storage().feed_last_seq("market").await.unwrap(), 2);
    let replay = feed(&mut conn, "p-1", first).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body, applied.body, "the stored answer survives");
    let rewind = feed(
        &mut conn,
        "p-2",
        ndjson(&[upsert("market", 1, "P-1", &a, 5)]),
    )
    .await;
    assert_eq!(rewind.status, 422);
    assert_eq!(rewind.json()["type"], "urn:credex:problem:sequence-gap");
    let next = feed(&mut conn, "p-3", ndjson(&[delete("market", 3, "P-1", &a)])).await;
    assert_eq!(next.status, 200, "{}", String::from_utf8_lossy(&next.body));
    assert_eq!(next.json()["sources"][0]["last_seq"], 3);
    let left: Vec<String> = penalties(&node, &a)
        .await
        .into_iter()
        .map(|r| r.record_id)
        .filter(|id| id.starts_with("P-"))
        .collect();
    assert_eq!(left, ["P-2"]);
    node.shutdown().await;
}

#[tokio::test]
async fn sequences_survive_a_restart_on_sqlite() {
    let fed = Federation::new();
    let mut config = fed.config("gy-1");
    config.gateway = Some(credex_node::config::GatewayConfig::on(
        "127.0.0.1:0".parse().unwrap(),
    ));
    assert!(matches!(config.storage, StorageTarget::Sqlite(_)));
    sequences_survive_a_restart_on(&fed, config).await;
}

#[tokio::test]
async fn sequences_survive_a_restart_on_postgres() {
    let Some(url) = credex_tests::postgres_url() else {
        eprintln!("PostgreSQL test skipped (CREDEX_SKIP_POSTGRES=1)");
        return;
    };
    let fed = Federation::new();
    let schema = format!("credex_feed_{}", std::process::id());
    let mut config = fed.config("gy-1");
    config.gateway = Some(credex_node::config::GatewayConfig::on(
        "127.0.0.1:0".parse().unwrap(),
    ));
    config.storage = StorageTarget::Postgres {
        url: url.clone(),
        schema: Some(schema.clone()),
    };
    sequences_survive_a_restart_on(&fed, config).await;
    // The node's store is encrypted at rest: open it with its KEK.
    let options = credex_node::storage::StorageOptions {
        at_rest: credex_node::boot::at_rest_config(&fed.config("gy-1")).unwrap(),
        ..Default::default()
    };
    let pg = credex_node::storage::Storage::open_postgres_with(&url, Some(&schema), options)
        .await
        .unwrap();
    credex_node::storage::danger::execute_raw(&pg, &format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
    pg.close().await;
}

/// The amount of `record_id` as the national node holds it from Guizhou's
/// upward reports, if it holds it.
async fn reported_amount(national: &RunningNode, subject: &str, record_id: &str) -> Option<String> {
    let qualified = format!("{GUIZHOU}:{record_id}");
    penalties(national, subject)
        .await
        .iter()
        .find(|r| r.record_id == qualified)
        .map(amount_of)
}

/// A fed change to a record already reported upward is reported again, and
/// the national node replaces its copy: the same path a re-import takes
/// (the reporter follows the records table in import order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fed_replacement_of_a_reported_record_is_reported_again() {
    let fed = Federation::new();
    let mut national_config = fed.config("national-1");
    national_config.transport.idle_timeout = std::time::Duration::from_secs(2);
    let national = fed.start_with(national_config).await;
    let mut config = fed.config("gy-1");
    config.upward.enabled = true;
    config.upward.interval = std::time::Duration::from_millis(100);
    for p in &mut config.peers {
        if p.region.is_national() {
            p.addr = national.local_addr();
        }
    }
    config.gateway = Some(credex_node::config::GatewayConfig::on(
        "127.0.0.1:0".parse().unwrap(),
    ));
    let province = fed.start_with(config).await;
    let mut conn = platform(&fed, &province).await;
    let a = subjects(GUIZHOU).remove(0);

    let r = feed(
        &mut conn,
        "u-1",
        ndjson(&[upsert("market", 1, "U-1", &a, 100)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    credex_tests::until_stored(national.storage(), "the first report", || async {
        reported_amount(&national, &a, "U-1").await.is_some()
    })
    .await;
    assert!(
        reported_amount(&national, &a, "U-1")
            .await
            .unwrap()
            .contains("100")
    );

    let r = feed(
        &mut conn,
        "u-2",
        ndjson(&[upsert("market", 2, "U-1", &a, 777)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    credex_tests::until_stored(national.storage(), "the replacement", || async {
        reported_amount(&national, &a, "U-1")
            .await
            .is_some_and(|amount| amount.contains("777"))
    })
    .await;
    province.shutdown().await;
    national.shutdown().await;
}
