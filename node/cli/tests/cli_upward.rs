//! `credex records import` (a separate process writing into a running
//! node's database) feeds the upward channel, and `credex upward status` /
//! `credex upward received` report it.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::{Duration, Instant};

use credex_node::config::NodeConfig;
use credex_node::service::RunningNode;

/// Two consecutive free loopback UDP ports.
fn free_ports() -> u16 {
    loop {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && std::net::UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_import_is_reported_upward_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = credex_kit::dev::init_regions(
        dir.path(),
        free_ports(),
        &[
            ("520000", "gy-1", "Guizhou"),
            ("000000", "national-1", "national platform"),
        ],
    )
    .unwrap();
    let gy_toml = &nodes[0].config;
    let national_toml = &nodes[1].config;
    let mut text = std::fs::read_to_string(gy_toml).unwrap();
    text.push_str("\n[upward]\nenabled = true\nbatch_size = 2\ninterval_ms = 100\n");
    std::fs::write(gy_toml, text).unwrap();

    let national = RunningNode::start(NodeConfig::load(national_toml).unwrap())
        .await
        .unwrap();
    let gy = RunningNode::start(NodeConfig::load(gy_toml).unwrap())
        .await
        .unwrap();
    let records = dir.path().join("records/520000/admin_penalty.jsonl");
    let n = std::fs::read_to_string(&records).unwrap().lines().count() as u64;
    assert!(n >= 3);
    ok(&[
        "records",
        "import",
        "--config",
        p(gy_toml),
        "--category",
        "admin_penalty",
        p(&records),
    ]);
    let start = Instant::now();
    let rules =
        credex_node::upward::load_rules(gy.config(), gy.queries().policy().catalogue()).unwrap();
    while credex_node::upward::status(gy.storage(), &rules)
        .await
        .unwrap()
        .reported
        < n
    {
        assert!(start.elapsed() < Duration::from_secs(60), "not reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["upward", "status", "--config", p(gy_toml), "--json"])).unwrap();
    assert_eq!(json["due"], n);
    assert_eq!(json["reported"], n);
    assert_eq!(json["reporting_rate"], 1.0);
    assert_eq!(json["batches_acked"], n.div_ceil(2));
    let human = ok(&["upward", "status", "--config", p(gy_toml)]);
    assert!(human.contains("reporting rate 100.0%"), "{human}");
    let received = ok(&["upward", "received", "--config", p(national_toml)]);
    assert!(
        received.contains(&format!("520000: {} batches, {n} records", n.div_ceil(2))),
        "{received}"
    );
    let wrong = credex(&["upward", "status", "--config", p(national_toml)]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("upward received"));
    gy.shutdown().await;
    national.shutdown().await;
}
