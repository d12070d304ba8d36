//! The `credex` binary and the integration gateway: an auditor copies a
//! node process's log through its gateway and verifies it offline.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::{Duration, Instant};

#[cfg(unix)]
#[test]
fn an_auditor_fetches_a_log_through_the_gateway_and_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 30100);
    let config = fed.join("nodes/gy-1/node.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = format!("127.0.0.1:{port}");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[gateway]\nlisten = \"{gateway}\"\n"));
    std::fs::write(&config, text).unwrap();
    let clients = dir.path().join("clients");
    ok(&[
        "pki",
        "client",
        "--ca",
        p(&fed.join("pki/520000")),
        "--name",
        "audit-office",
        "--roles",
        "audit",
        "--out",
        p(&clients),
    ]);
    let mut node = start_node(&config);

    let copy = dir.path().join("copy");
    let root = fed.join("pki/root/ca.pem");
    let fetch = |out: &std::path::Path| {
        credex(&[
            "audit",
            "fetch-gateway",
            "--gateway",
            &gateway,
            "--region",
            "520000",
            "--cert",
            p(&clients.join("audit-office.pem")),
            "--key",
            p(&clients.join("audit-office.key")),
            "--trust",
            p(&root),
            "--out",
            p(out),
        ])
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let fetched = loop {
        let out = fetch(&copy);
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never served the log: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        fetched.contains("entries of region 520000's log"),
        "{fetched}"
    );
    let verified = ok(&[
        "audit",
        "verify",
        p(&copy),
        "--trust",
        p(&root),
        "--pinned",
        p(&copy.join("checkpoint")),
    ]);
    assert!(verified.contains("credex/520000/gy-1"), "{verified}");

    // A client without the audit role gets a clear refusal, not a copy.
    ok(&[
        "pki",
        "client",
        "--ca",
        p(&fed.join("pki/520000")),
        "--name",
        "platform",
        "--roles",
        "feed",
        "--out",
        p(&clients),
    ]);
    let out = credex(&[
        "audit",
        "fetch-gateway",
        "--gateway",
        &gateway,
        "--region",
        "520000",
        "--cert",
        p(&clients.join("platform.pem")),
        "--key",
        p(&clients.join("platform.key")),
        "--trust",
        p(&root),
        "--out",
        p(&dir.path().join("refused")),
    ]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("403") && e.contains("audit"), "{e}");
    assert!(terminate(&mut node).success());
}
