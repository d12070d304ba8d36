//! Signing in to the web console over real HTTPS (issue 16, step a), and
//! every forged request its guard must refuse: another origin, no origin,
//! a cross-site fetch, no or a wrong CSRF token, a replayed or misdirected
//! challenge, a signature by another key, an officer of another region, an
//! authority's certificate, a cookie without the `__Host-` prefix, and an
//! officer revoked mid-session.

#![allow(clippy::unwrap_used)]

use credex_kit::gateway_client::{GatewayClient, GatewayResponse, officer_signature};
use credex_node::service::RunningNode;
use credex_tests::console::{browser, origin, start_with_console};
use credex_tests::{Federation, entries_of_kind};
use serde_json::{Value, json};

const GUIZHOU: &str = "520000";

async fn challenge(b: &mut GatewayClient, origin: &str) -> GatewayResponse {
    b.call_with_headers(
        "POST",
        "/console/api/challenges",
        None,
        &[("Origin", origin)],
        Vec::new(),
    )
    .await
    .unwrap()
}

/// The body a browser posts after signing `to_sign` as `who` of `region`
/// (`key_of`: whose key actually signs).
fn signed(fed: &Federation, region: &str, who: &str, key_of: &str, c: &Value) -> Vec<u8> {
    let dir = if who == "portal" {
        fed.path().join(format!("authorities/{region}"))
    } else {
        fed.path().join(format!("operators/{region}"))
    };
    let cert = dir.join(format!("{who}.pem"));
    let key = dir.join(format!("{key_of}.key"));
    let sig = officer_signature(&cert, &key, c["to_sign"].as_str().unwrap()).unwrap();
    serde_json::to_vec(&json!({
        "challenge": c["challenge"],
        "chain": sig["chain"],
        "algorithm": sig["algorithm"],
        "signature": sig["signature"],
    }))
    .unwrap()
}

async fn post_sign_in(b: &mut GatewayClient, origin: &str, body: Vec<u8>) -> GatewayResponse {
    b.call_with_headers(
        "POST",
        "/console/api/sessions",
        Some("application/json"),
        &[("Origin", origin)],
        body,
    )
    .await
    .unwrap()
}

/// Sign in as `who` of Guizhou; the cookie and the session's CSRF token.
async fn sign_in(
    b: &mut GatewayClient,
    fed: &Federation,
    origin: &str,
    who: &str,
) -> (String, String) {
    let c = challenge(b, origin).await.json();
    let r = post_sign_in(b, origin, signed(fed, GUIZHOU, who, who, &c)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let cookie = r.header("set-cookie").unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    (pair, r.json()["csrf"].as_str().unwrap().to_owned())
}

/// `GET /console/api/session` with `cookie`.
async fn session_of(b: &mut GatewayClient, cookie: &str) -> GatewayResponse {
    call(b, "GET", "/console/api/session", &[("Cookie", cookie)]).await
}

fn problem(r: &GatewayResponse) -> String {
    let v = r.json();
    format!(
        "{} {}",
        v["type"].as_str().unwrap_or(""),
        v["detail"].as_str().unwrap_or("")
    )
}

async fn call(
    b: &mut GatewayClient,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> GatewayResponse {
    b.call_with_headers(method, path, None, headers, Vec::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_officer_signs_in_with_a_signature_and_gets_a_strict_session_cookie() {
    let fed = Federation::new();
    let node = start_with_console(&fed).await;
    let mut b = browser(&fed, &node).await;
    let origin = origin(&node);

    let c = challenge(&mut b, &origin).await;
    assert_eq!(c.status, 201, "{}", problem(&c));
    assert_eq!(c.header("cache-control"), Some("no-store"));
    let c = c.json();
    let body = signed(&fed, GUIZHOU, "req-1", "req-1", &c);
    let r = post_sign_in(&mut b, &origin, body.clone()).await;
    assert_eq!(r.status, 201, "{}", problem(&r));
    let cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("__Host-credex_session="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.split("; ").any(|f| f == flag),
            "{flag} missing: {cookie}"
        );
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    let session = r.json();
    assert_eq!(session["role"], "requester");
    assert_eq!(session["region"], GUIZHOU);
    assert_eq!(
        session["officer"],
        "urn:credex:operator:520000:requester:req-1"
    );

    // The session answers with the cookie, and only with it.
    let pair = cookie.split(';').next().unwrap();
    let me = call(&mut b, "GET", "/console/api/session", &[("Cookie", pair)]).await;
    assert_eq!(me.status, 200, "{}", problem(&me));
    assert_eq!(me.json()["csrf"], session["csrf"]);
    let none = call(&mut b, "GET", "/console/api/session", &[]).await;
    assert_eq!(none.status, 401);
    assert!(
        problem(&none).contains("session-missing"),
        "{}",
        problem(&none)
    );
    let value = pair.split_once('=').unwrap().1;
    let renamed = format!("credex_session={value}");
    let r = call(
        &mut b,
        "GET",
        "/console/api/session",
        &[("Cookie", &renamed)],
    )
    .await;
    assert_eq!(
        r.status, 401,
        "a cookie without the __Host- prefix opened the session"
    );

    // The challenge was used once: the same signed body again is refused.
    let replay = post_sign_in(&mut b, &origin, body).await;
    assert_eq!(replay.status, 401);
    assert!(
        problem(&replay).contains("already used"),
        "{}",
        problem(&replay)
    );

    // The sign-in is in the log, naming the officer and the origin.
    let entries = entries_of_kind(&node, credex_journal::kind::OFFICER_SIGNED_IN).await;
    assert_eq!(entries.len(), 1);
    let entry: credex_journal::OfficerSignedIn = credex_protocol::decode(&entries[0]).unwrap();
    assert_eq!(entry.officer, "urn:credex:operator:520000:requester:req-1");
    assert_eq!(entry.origin, origin);
    node.shutdown().await;
}

#[tokio::test]
async fn forged_sign_ins_are_refused_with_the_reason() {
    let fed = Federation::new();
    let node = start_with_console(&fed).await;
    let mut b = browser(&fed, &node).await;
    let origin = origin(&node);

    for (region, who, key_of, reason, why) in [
        (
            GUIZHOU,
            "req-1",
            "apv-1",
            "does not verify",
            "another officer's key",
        ),
        (
            "440000",
            "req-1",
            "req-1",
            "region 440000",
            "an officer of Guangdong",
        ),
        (
            GUIZHOU,
            "portal",
            "portal",
            "not an operator",
            "an authorization authority",
        ),
    ] {
        let c = challenge(&mut b, &origin).await.json();
        let r = post_sign_in(&mut b, &origin, signed(&fed, region, who, key_of, &c)).await;
        assert_eq!(r.status, 401, "{why}");
        assert!(problem(&r).contains(reason), "{why}: {}", problem(&r));
    }

    // A challenge issued to one of the console's origins, answered from another.
    let other = origin.replace("127.0.0.1", "localhost");
    let c = challenge(&mut b, &other).await.json();
    let r = post_sign_in(&mut b, &origin, signed(&fed, GUIZHOU, "req-1", "req-1", &c)).await;
    assert_eq!(r.status, 401);
    assert!(problem(&r).contains("was issued to"), "{}", problem(&r));

    // A challenge never issued.
    let fake = json!({"challenge": base64_of(&[7u8; 32]), "to_sign": base64_of(b"x")});
    let r = post_sign_in(
        &mut b,
        &origin,
        signed(&fed, GUIZHOU, "req-1", "req-1", &fake),
    )
    .await;
    assert_eq!(r.status, 401);

    // Challenges only for the console's own origins, and not cross-site.
    let r = challenge(&mut b, "https://evil.example").await;
    assert_eq!(r.status, 403);
    assert!(problem(&r).contains("csrf-refused"), "{}", problem(&r));
    let r = call(&mut b, "POST", "/console/api/challenges", &[]).await;
    assert_eq!(r.status, 403, "no Origin");
    let r = call(
        &mut b,
        "POST",
        "/console/api/challenges",
        &[("Origin", &origin), ("Sec-Fetch-Site", "cross-site")],
    )
    .await;
    assert_eq!(r.status, 403, "cross-site fetch");

    assert!(
        entries_of_kind(&node, credex_journal::kind::OFFICER_SIGNED_IN)
            .await
            .is_empty(),
        "a refused sign-in opened a session"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn state_changing_calls_need_the_origin_and_the_csrf_token_and_revocation_ends_a_session() {
    let fed = Federation::new();
    let node: RunningNode = start_with_console(&fed).await;
    let mut b = browser(&fed, &node).await;
    let origin = origin(&node);
    let (cookie, csrf) = sign_in(&mut b, &fed, &origin, "apv-1").await;

    for (headers, why) in [
        (vec![("Origin", origin.as_str())], "no CSRF token"),
        (
            vec![("Origin", origin.as_str()), ("X-CSRF-Token", "forged")],
            "a wrong CSRF token",
        ),
        (
            vec![
                ("Origin", "https://evil.example"),
                ("X-CSRF-Token", csrf.as_str()),
            ],
            "another origin",
        ),
        (vec![("X-CSRF-Token", csrf.as_str())], "no origin"),
    ] {
        let mut h = vec![("Cookie", cookie.as_str())];
        h.extend(headers);
        let r = call(&mut b, "DELETE", "/console/api/session", &h).await;
        assert_eq!(r.status, 403, "{why}: {}", problem(&r));
        assert!(
            problem(&r).contains("csrf-refused"),
            "{why}: {}",
            problem(&r)
        );
    }
    // Still signed in after all of those.
    let me = session_of(&mut b, &cookie).await;
    assert_eq!(me.status, 200);

    // With both, the officer signs out, and the cookie is cleared.
    let r = call(
        &mut b,
        "DELETE",
        "/console/api/session",
        &[
            ("Cookie", &cookie),
            ("Origin", &origin),
            ("X-CSRF-Token", &csrf),
        ],
    )
    .await;
    assert_eq!(r.status, 204, "{}", problem(&r));
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let me = session_of(&mut b, &cookie).await;
    assert_eq!(me.status, 401);

    // Revoking the officer's certificate ends their open session.
    let (cookie, _) = sign_in(&mut b, &fed, &origin, "req-1").await;
    let me = session_of(&mut b, &cookie).await;
    assert_eq!(me.status, 200);
    let cert = fed.path().join("operators/520000/req-1.pem");
    fed.ca(GUIZHOU).revoke(&cert).unwrap();
    node.reload_crls().await.unwrap();
    let me = session_of(&mut b, &cookie).await;
    assert_eq!(me.status, 401);
    assert!(
        problem(&me).contains("no longer verifies"),
        "{}",
        problem(&me)
    );
    node.shutdown().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
