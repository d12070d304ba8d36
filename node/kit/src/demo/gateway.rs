//! Act 10, the integration gateway: Guizhou's own systems call their node
//! over HTTPS with client certificates from the region CA — who they are,
//! what arrived from other regions (the event feed), a two-person query to
//! Guangdong signed by two officers outside the node, who looked at a
//! company, the auditor's copy of the log — and what the gateway refuses.
//!
//! Owns: the act's scenes. Does not own the gateway (`credex_node::gateway`)
//! nor its client (`crate::gateway_client`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credex_node::pki_files::{CaDir, IssuedFiles};
use credex_node::service::RunningNode;
use credex_pki::{GatewayRoles, KeyAlgorithm};
use serde_json::{Value, json};

use super::Checks;
use crate::gateway_client::{ClientFiles, GatewayClient, officer_signature};

/// Act 10.
pub(super) async fn act(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let gy = &running[0];
    let Some(gateway) = gy.gateway() else {
        return Ok(());
    };
    let addr = gateway.local_addr();
    println!(
        "\n10. The integration gateway: Guizhou's own systems over HTTPS ({addr}), client certificates from the region CA"
    );
    let platform = issue(dir, "520000", "credit-platform", "events,feed,query,sar")?;
    let root = dir.join("pki/root/ca.pem");
    let files = ClientFiles {
        cert: &platform.cert,
        key: &platform.key,
        root: &root,
    };
    let mut conn = GatewayClient::connect(addr, &files, gy.config().region).await?;

    let me = conn.get("/v1/whoami").await?.json();
    checks.check(
        me["name"] == "credit-platform",
        "the gateway knows the system by its certificate",
        &format!("region {} · roles {}", me["region"], me["roles"]),
    );
    let doc = conn.get("/openapi.json").await?.json();
    let operations: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|i| i.as_object().map_or(0, |o| o.len()))
                .sum()
        })
        .unwrap_or(0);
    checks.check(
        doc["openapi"] == "3.1.0",
        "the API document is generated from the code (OpenAPI 3.1)",
        &format!("{operations} operations at /openapi.json, every error as problem+json"),
    );
    let company = crate::dev::sample_subjects("520000".parse()?)[2].clone();
    feed(&mut conn, &company, checks).await?;
    let reported_upward = crate::dev::sample_subjects("520000".parse()?)[0].clone();
    super::corrections::corrected_everywhere(&mut conn, gy, &reported_upward, 3, checks).await?;
    super::rights::objection_to_a_record(running, &reported_upward, "520000-AP-TODAY", checks)
        .await?;
    credit_check(dir, gy, &root, &company, checks).await?;
    super::rights::who_looked_everywhere(&mut conn, &company, checks).await?;
    events(&mut conn, checks).await?;
    two_person_query(dir, &mut conn, checks).await?;
    who_looked(dir, &running[2], &root, checks).await?;
    refusals(dir, gy, &root, checks).await
}

/// A client certificate from `region`'s CA, written under `dir/clients`.
fn issue(dir: &Path, region: &str, name: &str, roles: &str) -> Result<IssuedFiles> {
    let out = dir.join("clients").join(region);
    std::fs::create_dir_all(&out)?;
    let roles = GatewayRoles::parse_list(roles).map_err(anyhow::Error::msg)?;
    Ok(CaDir::at(dir.join(format!("pki/{region}"))).issue_client(
        &name.parse()?,
        roles,
        KeyAlgorithm::Ed25519,
        30,
        &out,
    )?)
}

fn penalty_line(seq: u64, company: &str, amount: &str) -> String {
    json!({
        "source": "market-regulation", "seq": seq, "op": "upsert",
        "record": {
            "category": "admin_penalty", "record_id": format!("QZ-2026-{seq:04}"), "subject": company,
            "decision_number": format!("黔市监罚〔2026〕{seq}号"), "penalty_type": "罚款",
            "amount": amount, "decision_date": "2026-03-15"
        }
    })
    .to_string()
}

/// The provincial platform mirrors two penalty decisions into the node;
/// a retried batch applies once; a batch with a bad line applies nothing.
async fn feed(conn: &mut GatewayClient, company: &str, checks: &mut Checks) -> Result<()> {
    let batch = format!(
        "{}\n{}\n",
        penalty_line(1, company, "8000.00"),
        penalty_line(2, company, "3000.00")
    );
    let post = |key: &'static str, body: String| (key, body);
    let mut answers = Vec::new();
    for (key, body) in [
        post("market-0001", batch.clone()),
        post("market-0001", batch),
    ] {
        let r = conn
            .call_with_headers(
                "POST",
                "/v1/records",
                Some("application/x-ndjson"),
                &[("Idempotency-Key", key)],
                body.into_bytes(),
            )
            .await?;
        answers.push((r.status, r.body));
    }
    checks.check(
        answers[0].0 == 200 && answers[0] == answers[1],
        "the provincial platform feeds records live; a retried batch is applied once",
        &format!("{}", String::from_utf8_lossy(&answers[0].1)),
    );
    let bad = format!(
        "{}\n{}\n",
        penalty_line(3, company, "100.00"),
        penalty_line(4, company, "a lot")
    );
    let r = conn
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("application/x-ndjson"),
            &[("Idempotency-Key", "market-0002")],
            bad.into_bytes(),
        )
        .await?;
    let errors = r.json()["errors"].clone();
    checks.check(
        r.status == 422 && errors[0]["line"] == 2,
        "a bad row refuses its whole batch, naming the line and the field",
        &format!(
            "{} line {} {}: {}",
            r.status, errors[0]["line"], errors[0]["field"], errors[0]["detail"]
        ),
    );
    Ok(())
}

/// The trading center checks the company before an award: the fed
/// penalties and any list entry binding here, in one answer.
async fn credit_check(
    dir: &Path,
    gy: &RunningNode,
    root: &Path,
    company: &str,
    checks: &mut Checks,
) -> Result<()> {
    let trading = issue(dir, "520000", "trading-center", "check")?;
    let files = ClientFiles {
        cert: &trading.cert,
        key: &trading.key,
        root,
    };
    let addr = gy.gateway().map(|g| g.local_addr()).context("gateway")?;
    let mut conn = GatewayClient::connect(addr, &files, gy.config().region).await?;
    let answer = conn
        .post_json(
            "/v1/checks",
            &json!({"subject": company, "purpose": "public_procurement", "officer": "张敏 (公共资源交易中心)"}),
        )
        .await?
        .json();
    let result = &answer["results"][0];
    let records = result["records"].as_array().map_or(0, Vec::len);
    let lists: Vec<String> = result["lists"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| format!("{} from {}", e["list_type"], e["origin_region"]))
                .collect()
        })
        .unwrap_or_default();
    let listed = if lists.is_empty() {
        "none in force (act 6's credit repair ended the entry)".to_owned()
    } else {
        lists.join(", ")
    };
    checks.check(
        records >= 2 && answer["journal"].as_array().is_some_and(|j| !j.is_empty()),
        "信用核查: one answer with the records released for the purpose and the list entries binding here",
        &format!("{records} record(s) (the fed penalties among them); list entries: {listed}; logged as an access by the trading center"),
    );
    Ok(())
}

async fn events(conn: &mut GatewayClient, checks: &mut Checks) -> Result<()> {
    let page = conn.get("/v1/events?limit=1000").await?.json();
    let events = page["events"].as_array().cloned().unwrap_or_default();
    let mut kinds: Vec<String> = events
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect();
    kinds.sort();
    kinds.dedup();
    checks.check(
        !events.is_empty(),
        "the event feed shows what arrived from other regions, in log order, by cursor",
        &format!(
            "{} events ({}); next cursor {}",
            events.len(),
            kinds.join(", "),
            page["next"]
        ),
    );
    Ok(())
}

fn officer(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let base = dir.join("operators/520000");
    (
        base.join(format!("{name}.pem")),
        base.join(format!("{name}.key")),
    )
}

async fn sign(
    conn: &mut GatewayClient,
    dir: &Path,
    id: &str,
    to_sign: &str,
    who: &str,
) -> Result<(u16, Value)> {
    let (cert, key) = officer(dir, who);
    let body = officer_signature(&cert, &key, to_sign)?;
    let r = conn
        .post_json(&format!("/v1/queries/{id}/signatures"), &body)
        .await?;
    Ok((r.status, r.json()))
}

async fn two_person_query(dir: &Path, conn: &mut GatewayClient, checks: &mut Checks) -> Result<()> {
    let subject = crate::dev::sample_subjects("440000".parse()?)[0].clone();
    let draft = conn
        .post_json(
            "/v1/queries",
            &json!({
                "target_region": "440000",
                "subject": subject,
                "purpose": "public_procurement",
                "requested": [{"category": "admin_penalty", "fields": ["decision_number", "amount"]}],
                "legal_basis": "joint-punishment-memorandum",
                "case_reference": "黔采〔2026〕0457号"
            }),
        )
        .await?
        .json();
    let id = draft["id"]
        .as_str()
        .context("a drafted query has an id")?
        .to_owned();
    let to_sign = draft["to_sign"].as_str().unwrap_or_default().to_owned();
    let (_, signed) = sign(conn, dir, &id, &to_sign, "req-1").await?;
    let approval = signed["to_sign"].as_str().unwrap_or_default().to_owned();
    let (self_status, _) = sign(conn, dir, &id, &approval, "req-1").await?;
    checks.check(
        self_status == 422,
        "over the gateway too, nobody approves their own query",
        "the requester's key over the approval bytes: 422 signature-refused",
    );
    let (_, _) = sign(conn, dir, &id, &approval, "apv-1").await?;
    let mut answered = Value::Null;
    for _ in 0..20 {
        answered = conn.get(&format!("/v1/queries/{id}?wait=5")).await?.json();
        if answered["state"] != "sending" {
            break;
        }
    }
    checks.check(
        answered["state"] == "answered" && answered["answer"]["outcome"] == "granted",
        "a two-person query drafted by a system, signed by two officers outside the node, answered by Guangdong",
        &format!(
            "{} record(s) released; Guangdong logged it at index {} of {}",
            answered["answer"]["records"].as_array().map_or(0, Vec::len),
            answered["answer"]["receipt"]["leaf_index"],
            answered["answer"]["receipt"]["log"]
        ),
    );
    Ok(())
}

/// Guangdong's credit-repair desk asks its own node who looked at the
/// company Guizhou asked about.
async fn who_looked(dir: &Path, gz: &RunningNode, root: &Path, checks: &mut Checks) -> Result<()> {
    let Some(gateway) = gz.gateway() else {
        return Ok(());
    };
    let desk = issue(dir, "440000", "credit-repair-desk", "sar")?;
    let files = ClientFiles {
        cert: &desk.cert,
        key: &desk.key,
        root,
    };
    let mut conn = GatewayClient::connect(gateway.local_addr(), &files, gz.config().region).await?;
    let subject = crate::dev::sample_subjects("440000".parse()?)[0].clone();
    let report = conn
        .post_json("/v1/subject-access", &json!({ "subject": subject }))
        .await?
        .json();
    let accesses = report["accesses"].as_array().cloned().unwrap_or_default();
    let by_guizhou = accesses.iter().filter(|a| a["by"] == "520000/gy-1").count();
    checks.check(
        by_guizhou >= 2,
        "who looked at a company: Guangdong's gateway answers from Guangdong's own log",
        &format!(
            "{} access(es) to {subject}, {by_guizhou} by Guizhou (its CLI queries and the gateway's), each with both officers",
            accesses.len()
        ),
    );
    Ok(())
}

async fn refusals(dir: &Path, gy: &RunningNode, root: &Path, checks: &mut Checks) -> Result<()> {
    let addr = gy.gateway().map(|g| g.local_addr()).context("gateway")?;
    let foreign = issue(dir, "440000", "credit-platform", "events")?;
    let files = ClientFiles {
        cert: &foreign.cert,
        key: &foreign.key,
        root,
    };
    let refused = match GatewayClient::connect(addr, &files, gy.config().region).await {
        Err(_) => true,
        Ok(mut c) => c.get("/v1/whoami").await.is_err(),
    };
    checks.check(
        refused,
        "Guangdong's systems cannot use Guizhou's gateway",
        "a client certificate from another region's CA fails the TLS handshake",
    );
    let checker = issue(dir, "520000", "tendering-system", "check")?;
    let files = ClientFiles {
        cert: &checker.cert,
        key: &checker.key,
        root,
    };
    let mut c = GatewayClient::connect(addr, &files, gy.config().region).await?;
    let r = c.get("/v1/events").await?;
    checks.check(
        r.status == 403 && r.json()["type"] == "urn:credex:problem:role-missing",
        "a system without the role is refused, and the refusal is in the log",
        &format!(
            "{} {}",
            r.status,
            r.json()["detail"].as_str().unwrap_or_default()
        ),
    );
    Ok(())
}
