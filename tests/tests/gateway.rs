//! The integration gateway over real HTTPS (issue 15): who may connect,
//! what the refusals look like, revocation of a live connection, and the
//! API document — generated, served, valid OpenAPI 3.1, and equal to what
//! the router serves.

#![allow(clippy::unwrap_used)]

use credex_kit::gateway_client::GatewayClient;
use credex_node::config::GatewayConfig;
use credex_node::service::RunningNode;
use credex_tests::gateway::{client, connect, gateway_addr, root, start_with_gateway, whoami};
use credex_tests::{Federation, within};

const GUIZHOU: &str = credex_tests::gateway::GUIZHOU;

#[tokio::test]
async fn an_own_region_client_is_served_and_others_are_refused_at_the_handshake() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;

    let own = client(&fed, GUIZHOU, "approval-system", "check,events");
    let r = within("whoami", whoami(&fed, &node, &own.cert, &own.key))
        .await
        .expect("an own-region client is served");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let me = r.json();
    assert_eq!(me["region"], GUIZHOU);
    assert_eq!(me["name"], "approval-system");
    assert_eq!(me["roles"], serde_json::json!(["check", "events"]));
    assert_eq!(me["certificate_sha256"], own.identity.fingerprint_hex());

    // A client certificate of another region's CA: sound chain, wrong gateway.
    let foreign = client(&fed, "440000", "approval-system", "check");
    let refused = within("foreign", whoami(&fed, &node, &foreign.cert, &foreign.key)).await;
    assert!(
        refused.is_err(),
        "a Guangdong client was served by Guizhou's gateway: {refused:?}"
    );

    // The node's own certificate is for the federation, not the gateway.
    let node_cert = fed.node_cert("gy-1");
    let node_key = node.config().tls.key.clone();
    let refused = within("node cert", whoami(&fed, &node, &node_cert, &node_key)).await;
    assert!(
        refused.is_err(),
        "a node certificate was served as a gateway client: {refused:?}"
    );

    // No client certificate at all.
    let trust =
        credex_pki::TrustStore::from_pem(&std::fs::read_to_string(root(&fed)).unwrap(), &[])
            .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(credex_node::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(
            credex_node::tls::DialedNodeVerifier::new(
                credex_node::tls::FederationTrust::new(trust),
                GUIZHOU.parse().unwrap(),
                None,
            ),
        ))
        .with_no_client_auth();
    let anonymous = within("anonymous", async {
        let mut c = GatewayClient::connect_with(gateway_addr(&node), tls)
            .await
            .map_err(|e| e.to_string())?;
        c.get("/v1/whoami").await.map_err(|e| e.to_string())
    })
    .await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate was served: {anonymous:?}"
    );

    // The own-region client still is.
    assert!(whoami(&fed, &node, &own.cert, &own.key).await.is_ok());
    node.shutdown().await;
}

#[tokio::test]
async fn a_revoked_client_loses_its_open_connection_and_cannot_reconnect() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let platform = client(&fed, GUIZHOU, "credit-platform", "feed");
    let bystander = client(&fed, GUIZHOU, "approval-system", "check");

    let mut open = connect(&fed, &node, &platform.cert, &platform.key)
        .await
        .unwrap();
    assert_eq!(open.get("/v1/whoami").await.unwrap().status, 200);
    let mut other = connect(&fed, &node, &bystander.cert, &bystander.key)
        .await
        .unwrap();
    assert_eq!(other.get("/v1/whoami").await.unwrap().status, 200);
    assert_eq!(node.gateway().unwrap().live_connections(), 2);

    fed.ca(GUIZHOU).revoke(&platform.cert).unwrap();
    let closed = node.reload_crls().await.unwrap();
    assert_eq!(
        closed, 1,
        "exactly the revoked client's connection is closed"
    );

    let after = within("revoked call", open.get("/v1/whoami")).await;
    assert!(
        after.is_err(),
        "the revoked client's open connection still answered: {after:?}"
    );
    let again = within(
        "reconnect",
        whoami(&fed, &node, &platform.cert, &platform.key),
    )
    .await;
    assert!(
        again.is_err(),
        "the revoked client could connect again: {again:?}"
    );
    // The other client keeps its connection.
    assert_eq!(other.get("/v1/whoami").await.unwrap().status, 200);
    node.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_problem_json() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let c = client(&fed, GUIZHOU, "approval-system", "check");
    let mut conn = connect(&fed, &node, &c.cert, &c.key).await.unwrap();

    let r = conn.get("/v1/nothing").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["type"], "urn:credex:problem:not-found");
    assert_eq!(r.json()["instance"], "/v1/nothing");

    let r = conn
        .call("DELETE", "/v1/whoami", None, Vec::new())
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["type"], "urn:credex:problem:method-not-allowed");
    node.shutdown().await;
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1_and_every_operation_is_routed() {
    let fed = Federation::new();
    let node = start_with_gateway(&fed).await;
    let c = client(
        &fed,
        GUIZHOU,
        "auditor-desk",
        "audit,check,events,feed,query,sar",
    );
    let mut conn = connect(&fed, &node, &c.cert, &c.key).await.unwrap();

    let r = conn.get("/openapi.json").await.unwrap();
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["mutualTLS"]["type"],
        "mutualTLS"
    );

    // A real validator: openapi-spec-validator's OpenAPI 3.1 schema.
    let file = fed.path().join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys\n\
             from openapi_spec_validator import validate, OpenAPIV31SpecValidator\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)",
        )
        .arg(&file)
        .output()
        .expect("python3 runs (.ci/run installs openapi-spec-validator)");
    assert!(
        out.status.success(),
        "the served document is not valid OpenAPI 3.1: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every documented operation is routed: requesting it never gives
    // not-found, method-not-allowed or undocumented-route.
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 2, "{paths:?}");
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let r = conn
                .call(
                    &method.to_uppercase(),
                    &concrete,
                    Some("application/json"),
                    b"{}".to_vec(),
                )
                .await
                .unwrap();
            let kind = r.json()["type"].as_str().unwrap_or_default().to_owned();
            for unrouted in ["not-found", "method-not-allowed", "undocumented-route"] {
                assert_ne!(
                    kind,
                    format!("urn:credex:problem:{unrouted}"),
                    "{method} {path} is documented but not served as documented"
                );
            }
        }
    }
    assert!(operations >= 2, "{operations} operations");
    node.shutdown().await;
}

/// Every `GatewayRefused` entry in the node's journal.
async fn refusals(node: &RunningNode) -> Vec<credex_journal::GatewayRefused> {
    let records = node.storage().journal_range(0, 10_000).await.unwrap();
    records
        .iter()
        .filter(|r| r.kind == credex_journal::kind::GATEWAY_REFUSED)
        .map(|r| postcard::from_bytes(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_client_over_its_rate_is_refused_with_retry_after_and_journaled_once() {
    let fed = Federation::new();
    let mut config = fed.config("gy-1");
    let mut gw = GatewayConfig::on("127.0.0.1:0".parse().unwrap());
    gw.requests_per_second = 1;
    gw.burst = 3;
    config.gateway = Some(gw);
    let node = fed.start_with(config).await;
    let noisy = client(&fed, GUIZHOU, "tendering-system", "check");
    let quiet = client(&fed, GUIZHOU, "approval-system", "check");
    let mut conn = connect(&fed, &node, &noisy.cert, &noisy.key).await.unwrap();

    for _ in 0..3 {
        assert_eq!(conn.get("/v1/whoami").await.unwrap().status, 200);
    }
    let over = conn.get("/v1/whoami").await.unwrap();
    assert_eq!(over.status, 429);
    assert_eq!(over.json()["type"], "urn:credex:problem:rate-limited");
    let retry: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(conn.get("/v1/whoami").await.unwrap().status, 429);

    // Another system has its own budget.
    let r = whoami(&fed, &node, &quiet.cert, &quiet.key).await.unwrap();
    assert_eq!(r.status, 200);

    // One refusal entry for the burst, naming client and routed operation.
    let logged = refusals(&node).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].problem, "rate-limited");
    assert_eq!(logged[0].operation, "GET /v1/whoami");
    assert_eq!(
        logged[0].client.identity,
        "urn:credex:client:520000:check:tendering-system"
    );
    assert_eq!(logged[0].client.fingerprint, noisy.identity.fingerprint);
    node.shutdown().await;
}

/// Whether a tool is on this machine; in CI (`CREDEX_REQUIRE_KEY_TOOLS`) it must be.
fn have(tool: &str) -> bool {
    // OpenSSL's command line says its version with `version`.
    let ask = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    let found = std::process::Command::new(tool)
        .arg(ask)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("CREDEX_REQUIRE_KEY_TOOLS").is_none(),
        "{tool} is required in CI (.ci/run installs it)"
    );
    found
}

#[tokio::test]
async fn curl_with_openssl_is_served_with_ed25519_and_p256_client_certificates() {
    if !have("curl") || !have("openssl") {
        return;
    }
    let fed = Federation::new();
    // Under `ed25519-sha256` curl verifies the node's own chain. Under
    // `sm2-sm3` that chain is signed SM2-with-SM3, which OpenSSL's TLS
    // client does not verify (it cannot be given the signer's identity:
    // openssl#23471), so the gateway serves a web certificate from the
    // intranet's CA, here one OpenSSL makes (`[gateway] certificate`).
    let (node, server_ca) = match credex_tests::test_suite() {
        credex_protocol::Suite::Ed25519Sha256 => (start_with_gateway(&fed).await, root(&fed)),
        credex_protocol::Suite::Sm2Sm3 => {
            let web = intranet_web_certificate(&fed.path().join("intranet"), "gy-1.520000.credex");
            let mut config = fed.config("gy-1");
            let mut gateway = GatewayConfig::on("127.0.0.1:0".parse().unwrap());
            gateway.web_identity = Some(web.files);
            config.gateway = Some(gateway);
            (fed.start_with(config).await, web.ca)
        }
    };
    let out = fed.path().join("clients-curl");
    std::fs::create_dir_all(&out).unwrap();
    let ca = fed.ca(GUIZHOU);
    for (name, alg) in [
        ("platform-ed25519", credex_pki::KeyAlgorithm::Ed25519),
        ("platform-p256", credex_pki::KeyAlgorithm::EcdsaP256),
    ] {
        let issued = ca
            .issue_client(
                &name.parse().unwrap(),
                credex_pki::GatewayRoles::parse_list("events").unwrap(),
                alg,
                30,
                &out,
            )
            .unwrap();
        let addr = gateway_addr(&node);
        let mut command = std::process::Command::new("curl");
        command
            .args(["-sS", "--fail-with-body", "--cacert"])
            .arg(&server_ca)
            .arg("--cert")
            .arg(&issued.cert)
            .arg("--key")
            .arg(&issued.key)
            .arg("--resolve")
            .arg(format!("gy-1.520000.credex:{}:127.0.0.1", addr.port()))
            .arg(format!(
                "https://gy-1.520000.credex:{}/v1/whoami",
                addr.port()
            ));
        let curl = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            curl.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&curl.stderr)
        );
        let me: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap();
        assert_eq!(me["name"], name);
    }
    node.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed_and_one_client_cannot_take_every_slot() {
    let fed = Federation::new();
    let mut config = fed.config("gy-1");
    let mut gw = GatewayConfig::on("127.0.0.1:0".parse().unwrap());
    gw.header_timeout = std::time::Duration::from_millis(300);
    gw.max_connections_per_client = 2;
    config.gateway = Some(gw);
    let node = fed.start_with(config).await;
    let greedy = client(&fed, GUIZHOU, "greedy-system", "check");
    let other = client(&fed, GUIZHOU, "approval-system", "check");

    // A keep-alive connection left idle past the header deadline is closed.
    let mut idle = connect(&fed, &node, &greedy.cert, &greedy.key)
        .await
        .unwrap();
    assert_eq!(idle.get("/v1/whoami").await.unwrap().status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(
        idle.get("/v1/whoami").await.is_err(),
        "an idle connection stayed open"
    );

    // Two connections per client; the third is closed at once, another
    // client is still served.
    let mut a = connect(&fed, &node, &greedy.cert, &greedy.key)
        .await
        .unwrap();
    let mut b = connect(&fed, &node, &greedy.cert, &greedy.key)
        .await
        .unwrap();
    assert_eq!(a.get("/v1/whoami").await.unwrap().status, 200);
    assert_eq!(b.get("/v1/whoami").await.unwrap().status, 200);
    let third = whoami(&fed, &node, &greedy.cert, &greedy.key).await;
    assert!(
        third.is_err(),
        "a third connection of one client was served: {third:?}"
    );
    assert_eq!(
        whoami(&fed, &node, &other.cert, &other.key)
            .await
            .unwrap()
            .status,
        200
    );
    node.shutdown().await;
}

/// A web server certificate for `host` from an intranet CA, both P-256
/// and made by OpenSSL: its CA certificate and the gateway's files.
struct IntranetWeb {
    ca: std::path::PathBuf,
    files: credex_node::config::WebIdentityFiles,
}

fn intranet_web_certificate(dir: &std::path::Path, host: &str) -> IntranetWeb {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &p256,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=intranet web CA",
                "-days",
                "30",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &p256,
            &[
                "-keyout",
                "web.key",
                "-out",
                "web.csr",
                "-subj",
                &format!("/CN={host}"),
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("web.ext"),
        format!("subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "web.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "web.pem",
        "-days",
        "30",
        "-extfile",
        "web.ext",
    ]);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.join("web.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    IntranetWeb {
        ca: dir.join("ca.pem"),
        files: credex_node::config::WebIdentityFiles {
            certificate: dir.join("web.pem"),
            key: dir.join("web.key"),
        },
    }
}
