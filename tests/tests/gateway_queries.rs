//! A two-person cross-region query made entirely through the gateway
//! (issue 15 item 5): a region system drafts it over HTTPS, two officers
//! sign the bytes the gateway gives them with their own keys (never at the
//! node), the node sends it to Guangdong over QUIC, and the verified answer
//! comes back with its log receipt — the same checks and log entries as the
//! CLI. Self-approval, a wrong role and a forged signature are refused.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use credex_kit::gateway_client::{GatewayClient, officer_signature};
use credex_node::config::GatewayConfig;
use credex_node::service::RunningNode;
use credex_tests::gateway::{client, connect_as};
use credex_tests::{Federation, import_samples, within};
use serde_json::{Value, json};

/// Guangdong with its sample records, and Guizhou (with a gateway) knowing
/// where Guangdong listens.
async fn start(fed: &Federation) -> (RunningNode, RunningNode) {
    let gz = fed.start("gz-1").await;
    import_samples(fed, &gz, "440000").await;
    let mut config = fed.config("gy-1");
    config.gateway = Some(GatewayConfig::on("127.0.0.1:0".parse().unwrap()));
    for peer in &mut config.peers {
        if peer.name.as_str() == "gz-1" {
            peer.addr = gz.local_addr();
        }
    }
    let gy = fed.start_with(config).await;
    (gy, gz)
}

fn officer(fed: &Federation, name: &str) -> (PathBuf, PathBuf) {
    let dir = fed.path().join("operators/520000");
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

fn draft_body(subject: &str) -> Value {
    json!({
        "target_region": "440000",
        "subject": subject,
        "purpose": "public_procurement",
        "requested": [{"category": "admin_penalty", "fields": ["decision_number", "amount"]}],
        "legal_basis": "joint-punishment-memorandum",
        "case_reference": "黔采〔2026〕0457号"
    })
}

async fn sign_as(
    conn: &mut GatewayClient,
    fed: &Federation,
    id: &str,
    to_sign: &str,
    who: &str,
) -> (u16, Value) {
    let (cert, key) = officer(fed, who);
    let body = officer_signature(&cert, &key, to_sign).unwrap();
    let r = conn
        .post_json(&format!("/v1/queries/{id}/signatures"), &body)
        .await
        .unwrap();
    (r.status, r.json())
}

#[tokio::test]
async fn a_query_drafted_signed_and_approved_over_the_gateway_is_answered_with_a_receipt() {
    let fed = Federation::new();
    let (gy, gz) = start(&fed).await;
    let system = client(&fed, "520000", "procurement-platform", "query");
    let mut conn = connect_as(&fed, &gy, &system).await;
    let subject = credex_tests::subjects("440000")[0].clone();

    let r = conn
        .post_json("/v1/queries", &draft_body(&subject))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    let draft = r.json();
    assert_eq!(draft["state"], "awaiting_requester");
    assert_eq!(draft["subject"], subject.as_str());
    let id = draft["id"].as_str().unwrap().to_owned();

    // The requester signs; the approver cannot be the same officer.
    let (status, signed) = sign_as(
        &mut conn,
        &fed,
        &id,
        draft["to_sign"].as_str().unwrap(),
        "req-1",
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["state"], "awaiting_approver");
    assert!(
        signed["requester"]
            .as_str()
            .unwrap()
            .starts_with("urn:credex:operator:520000:requester:")
    );
    let approval = signed["to_sign"].as_str().unwrap().to_owned();
    assert_ne!(approval, draft["to_sign"].as_str().unwrap());

    // The requester's key over the approval bytes: refused (wrong role, same person).
    let (status, refused) = sign_as(&mut conn, &fed, &id, &approval, "req-1").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["type"], "urn:credex:problem:signature-refused");

    // The approver signs; the node sends it and Guangdong answers.
    let (status, approved) = sign_as(&mut conn, &fed, &id, &approval, "apv-1").await;
    assert_eq!(status, 200, "{approved}");
    assert!(approved.get("to_sign").is_none());
    let answered = within("answer", async {
        loop {
            let r = conn
                .get(&format!("/v1/queries/{id}?wait=10"))
                .await
                .unwrap();
            let v = r.json();
            if v["state"] != "sending" {
                return v;
            }
        }
    })
    .await;
    assert_eq!(answered["state"], "answered", "{answered}");
    let answer = &answered["answer"];
    assert_eq!(answer["outcome"], "granted", "{answer}");
    assert!(
        !answer["records"].as_array().unwrap().is_empty(),
        "{answer}"
    );
    assert!(
        answer["receipt"]["log"]
            .as_str()
            .unwrap()
            .contains("440000"),
        "{answer}"
    );
    assert!(
        answer["receipt"]["tree_size"].as_u64().unwrap()
            > answer["receipt"]["leaf_index"].as_u64().unwrap()
    );

    // A closed query takes no more signatures.
    let (status, closed) = sign_as(&mut conn, &fed, &id, &approval, "apv-1").await;
    assert_eq!(
        (status, closed["type"].as_str()),
        (409, Some("urn:credex:problem:query-closed"))
    );

    // Both logs hold the access, as with the CLI: Guizhou's intent and sent
    // entry, Guangdong's received entry.
    let kinds = |node: &RunningNode| {
        let storage = node.storage().clone();
        async move {
            storage
                .journal_range(0, 4096)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.kind)
                .collect::<Vec<_>>()
        }
    };
    let gy_kinds = kinds(&gy).await;
    assert!(gy_kinds.contains(&credex_journal::kind::QUERY_INTENT));
    assert!(gy_kinds.contains(&credex_journal::kind::QUERY_SENT));
    assert!(
        kinds(&gz)
            .await
            .contains(&credex_journal::kind::QUERY_RECEIVED)
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn bad_drafts_forged_signatures_and_missing_roles_are_refused() {
    let fed = Federation::new();
    let (gy, gz) = start(&fed).await;
    let system = client(&fed, "520000", "procurement-platform", "query");
    let mut conn = connect_as(&fed, &gy, &system).await;
    let subject = credex_tests::subjects("440000")[0].clone();

    let mut bad = draft_body(&subject);
    bad["requested"][0]["fields"][1] = json!("no_such_field");
    let r = conn.post_json("/v1/queries", &bad).await.unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "/requested/0/fields/1");
    let mut bad = draft_body(&subject);
    bad["target_region"] = json!("520000");
    let r = conn.post_json("/v1/queries", &bad).await.unwrap();
    assert_eq!(r.json()["field"], "/target_region");
    assert_eq!(
        r.json()["instance"],
        "/v1/queries",
        "every problem names where"
    );
    let mut bad = draft_body(&subject);
    bad["extra"] = json!(1);
    let r = conn.post_json("/v1/queries", &bad).await.unwrap();
    assert_eq!(r.json()["type"], "urn:credex:problem:field-invalid");

    // A signature over other bytes than the draft's is refused.
    let draft = conn
        .post_json("/v1/queries", &draft_body(&subject))
        .await
        .unwrap()
        .json();
    let id = draft["id"].as_str().unwrap();
    use base64::Engine as _;
    let other = base64::engine::general_purpose::STANDARD.encode(b"\x05hello something else");
    let (status, forged) = sign_as(&mut conn, &fed, id, &other, "req-1").await;
    assert_eq!(status, 422, "{forged}");
    assert_eq!(forged["type"], "urn:credex:problem:signature-refused");
    // An approver's key cannot sign as the requester.
    let (status, wrong) = sign_as(
        &mut conn,
        &fed,
        id,
        draft["to_sign"].as_str().unwrap(),
        "apv-1",
    )
    .await;
    assert_eq!(status, 422, "{wrong}");
    let r = conn.get(&format!("/v1/queries/{id}")).await.unwrap();
    assert_eq!(r.json()["state"], "awaiting_requester");
    let r = conn
        .get("/v1/queries/00000000000000000000000000000000")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["type"].as_str()),
        (404, Some("urn:credex:problem:query-unknown"))
    );

    // A system without role `query` is refused.
    let checker = client(&fed, "520000", "approval-system", "check");
    let mut other = connect_as(&fed, &gy, &checker).await;
    let r = other
        .post_json("/v1/queries", &draft_body(&subject))
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    gy.shutdown().await;
    gz.shutdown().await;
}
