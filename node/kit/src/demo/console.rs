//! Act 11, the web console: Guizhou's officers sign in with the operator
//! certificate and key they sign queries with (a signature over a one-use
//! challenge; the key never leaves them), look a company up — the look
//! logged first — read the federation's health, and a forged request is
//! refused. The same pages, in a browser, are in `docs/console/`.
//!
//! Owns: the act's scenes. Does not own the console (`credex_node::console`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use credex_node::service::RunningNode;
use serde_json::{Value, json};

use super::Checks;
use crate::gateway_client::{GatewayClient, GatewayResponse, officer_signature};

/// Act 11.
pub(super) async fn act(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let gy = &running[0];
    let Some(console) = gy.console() else {
        return Ok(());
    };
    let origin = format!("https://127.0.0.1:{}", console.local_addr().port());
    println!("\n11. The web console for officers and auditors: {origin}/ (zh-CN, English switch)");
    let mut b = browser(dir, gy).await?;
    let ops = dir.join("operators/520000");
    let (cookie, csrf, session) = sign_in(&mut b, &origin, &ops, "apv-1").await?;
    checks.check(
        session["role"] == "approver",
        "an officer signs in with the signature of their operator key (no password, the key stays with them)",
        &format!(
            "{} · session cookie {} · idle limit 30 min",
            session["officer"].as_str().unwrap_or(""),
            cookie_flags(&cookie)
        ),
    );

    let company = crate::dev::sample_subjects("520000".parse()?)[0].clone();
    let page = call(
        &mut b,
        "POST",
        "/console/api/subjects",
        &[
            ("Origin", &origin),
            ("Cookie", &cookie),
            ("X-CSRF-Token", &csrf),
        ],
        Some(json!({"subject": company, "purpose": "supervision"})),
    )
    .await?;
    let page = page.json();
    let records = page["check"]["results"][0]["records"]
        .as_array()
        .map_or(0, Vec::len);
    checks.check(
        records > 0 && page["check"]["journal"][0]["seq"].is_u64(),
        "a subject's page shows what Guizhou holds, the look logged before it is shown",
        &format!(
            "{company}: {records} record(s) for supervision · logged as entry {}",
            page["check"]["journal"][0]["seq"]
        ),
    );

    let health = call(
        &mut b,
        "GET",
        "/console/api/health",
        &[("Cookie", &cookie)],
        None,
    )
    .await?
    .json();
    checks.check(
        health["peers"].as_array().is_some_and(|p| !p.is_empty()),
        "federation health: peers, outbox, CRLs, the upward channel over 30 days, alerts",
        &format!(
            "{} peers · {} CRLs · {} alerts",
            health["peers"].as_array().map_or(0, Vec::len),
            health["crls"].as_array().map_or(0, Vec::len),
            health["alerts"].as_array().map_or(0, Vec::len)
        ),
    );

    // Another site's page trying to sign the officer out: no CSRF token,
    // another origin.
    let forged = call(
        &mut b,
        "DELETE",
        "/console/api/session",
        &[("Origin", "https://evil.example"), ("Cookie", &cookie)],
        None,
    )
    .await?;
    checks.check(
        forged.status == 403,
        "a forged request from another origin without the session's CSRF token is refused",
        &format!(
            "{} {}",
            forged.status,
            forged.json()["type"].as_str().unwrap_or("")
        ),
    );
    println!(
        "      open {origin}/ in Chromium, trusting console/520000/gy-1-console.pem, with operators/520000/apv-1.pem and .key"
    );
    Ok(())
}

/// A browser's connection to the console: verifies the console's
/// certificate under the federation root, presents none.
async fn browser(dir: &Path, gy: &RunningNode) -> Result<GatewayClient> {
    let root = std::fs::read_to_string(dir.join("pki/root/ca.pem"))?;
    let trust = credex_pki::TrustStore::from_pem(&root, &[]).context("federation root")?;
    let mut tls = rustls::ClientConfig::builder_with_provider(credex_node::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(credex_node::tls::DialedNodeVerifier::new(
            credex_node::tls::FederationTrust::new(trust),
            gy.config().region,
            None,
        )))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let addr = gy.console().context("no console")?.local_addr();
    Ok(GatewayClient::connect_with(addr, tls).await?)
}

async fn call(
    b: &mut GatewayClient,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<GatewayResponse> {
    let (content_type, bytes) = match body {
        Some(v) => (Some("application/json"), serde_json::to_vec(&v)?),
        None => (None, Vec::new()),
    };
    Ok(
        b.call_with_headers(method, path, content_type, headers, bytes)
            .await?,
    )
}

/// Sign in as `who`: the cookie (`name=value`), the CSRF token, the session.
async fn sign_in(
    b: &mut GatewayClient,
    origin: &str,
    ops: &Path,
    who: &str,
) -> Result<(String, String, Value)> {
    let challenge = call(
        b,
        "POST",
        "/console/api/challenges",
        &[("Origin", origin)],
        None,
    )
    .await?
    .json();
    let to_sign = challenge["to_sign"].as_str().context("no challenge")?;
    let sig = officer_signature(
        &ops.join(format!("{who}.pem")),
        &ops.join(format!("{who}.key")),
        to_sign,
    )?;
    let body = json!({
        "challenge": challenge["challenge"],
        "chain": sig["chain"],
        "algorithm": sig["algorithm"],
        "signature": sig["signature"],
    });
    let r = call(
        b,
        "POST",
        "/console/api/sessions",
        &[("Origin", origin)],
        Some(body),
    )
    .await?;
    let set_cookie = r
        .header("set-cookie")
        .context("no session cookie")?
        .to_owned();
    let session = r.json();
    let cookie = set_cookie.split(';').next().unwrap_or("").to_owned();
    let csrf = session["csrf"].as_str().unwrap_or("").to_owned();
    Ok((cookie, csrf, session))
}

fn cookie_flags(set_cookie_pair: &str) -> String {
    let name = set_cookie_pair.split('=').next().unwrap_or("");
    format!("{name} (Secure, HttpOnly, SameSite=Strict)")
}
