//! A region served by several processes over one PostgreSQL (issue 18 §2,
//! decision 1020): Guangdong runs as three real processes on one schema,
//! Guizhou and Chongqing query it without pause, dialling whichever of its
//! three addresses answers. The process doing the region's duties is
//! killed with SIGKILL, then the one that took them over; another takes
//! them each time within a few seconds, under a larger fencing token, and
//! journals it. Both killed processes are restarted. Every query a
//! requester got an answer to is in Guangdong's one log exactly once, at
//! the leaf its receipt names, and the joint audit of the three logs is
//! clean.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use credex_journal::{DutiesTaken, kind};
use credex_node::config::NodeConfig;
use credex_node::storage::Storage;
use credex_tests::region::{assert_each_answer_logged_once, entries, p99, start_load, stop_load};
use credex_tests::{Federation, free_udp_port, postgres_url, sigkill};

/// Query tasks per requesting region.
const TASKS: usize = 3;

/// One of Guangdong's processes, as a child.
struct Member {
    config: std::path::PathBuf,
    child: Option<Child>,
    holder: String,
}

impl Member {
    fn start(config: &std::path::Path) -> Member {
        let mut child = Command::new(env!("CARGO_BIN_EXE_region-member"))
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let holder = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the member did not start: {line:?}"))
            .trim()
            .to_owned();
        Member {
            config: config.to_owned(),
            child: Some(child),
            holder,
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // No lease released, no clean close.
            sigkill(&mut child);
        }
    }

    fn restart(&mut self) {
        *self = Member::start(&self.config);
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The latest duties taken, as journaled.
async fn latest_duties(storage: &Storage) -> Option<DutiesTaken> {
    entries(storage, kind::DUTIES_TAKEN)
        .await
        .last()
        .map(|(_, body)| credex_protocol::decode(body).unwrap())
}

/// Wait until a process other than `after`'s holder journals that it took
/// the duties, under a larger token; how long it took.
async fn takeover(storage: &Storage, after: &DutiesTaken) -> (DutiesTaken, Duration) {
    let started = Instant::now();
    loop {
        if let Some(d) = latest_duties(storage).await
            && d.token > after.token
        {
            return (d, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no process took the region's duties within 20 s of {} being killed",
            after.holder
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_of_three_processes_keeps_one_log_through_two_kills() {
    let Some(url) = postgres_url() else { return };
    let fed = Arc::new(Federation::new());
    let schema = format!("credex_region_{}", std::process::id());
    let gz_dev = fed.node("gz-1");
    let ports: Vec<u16> = (0..3).map(|_| free_udp_port()).collect();
    let (gy_port, cq_port) = (free_udp_port(), free_udp_port());
    let dev_port = |name: &str| fed.node(name).port;
    let original = std::fs::read_to_string(&gz_dev.config).unwrap();
    let configs: Vec<std::path::PathBuf> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let text = original
                .replace("data_dir = \"data\"", &format!("data_dir = \"data-{i}\""))
                .replace(
                    &format!("127.0.0.1:{}\"", dev_port("gz-1")),
                    &format!("127.0.0.1:{port}\""),
                )
                .replace(
                    &format!("127.0.0.1:{}\"", dev_port("gy-1")),
                    &format!("127.0.0.1:{gy_port}\""),
                )
                .replace(
                    &format!("127.0.0.1:{}\"", dev_port("cq-1")),
                    &format!("127.0.0.1:{cq_port}\""),
                )
                .replace(
                    "[storage]\n",
                    &format!("[storage]\nurl = \"{url}\"\nschema = \"{schema}\"\n"),
                );
            let path = gz_dev.config.with_file_name(format!("process-{i}.toml"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    // Each requester knows Guangdong's three addresses, and finds a dead
    // process out within 3 s (the idle timeout; operator guide).
    let requester = |name: &str, port: u16| {
        let mut c = fed.config(name);
        c.listen.set_port(port);
        c.transport.idle_timeout = Duration::from_secs(3);
        c.transport.keep_alive = Duration::from_secs(1);
        for peer in &mut c.peers {
            if peer.region.to_string() == "440000" {
                peer.addr.set_port(ports[0]);
                peer.fallback_addrs = ports[1..]
                    .iter()
                    .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], *p)))
                    .collect();
            }
        }
        c
    };
    let gy = Arc::new(fed.start_with(requester("gy-1", gy_port)).await);
    let cq = Arc::new(fed.start_with(requester("cq-1", cq_port)).await);
    let mut members: Vec<Member> = configs.iter().map(|c| Member::start(c)).collect();
    // The members' store is encrypted at rest: open it with their KEK.
    let options = credex_node::storage::StorageOptions {
        at_rest: credex_node::boot::at_rest_config(&fed.config("gz-1")).unwrap(),
        ..Default::default()
    };
    let watch = Storage::open_postgres_with(&url, Some(&schema), options)
        .await
        .unwrap();

    let first = loop {
        if let Some(d) = latest_duties(&watch).await {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(members.iter().any(|m| m.holder == first.holder));

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_load(&fed, &[&gy, &cq], TASKS, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Kill the process doing the duties, then the one that took them over.
    let mut held = first;
    let mut kills = Vec::new();
    for _ in 0..2 {
        let victim = members
            .iter_mut()
            .find(|m| m.holder == held.holder)
            .unwrap();
        let killed_at = Instant::now();
        victim.kill();
        let (next, after) = takeover(&watch, &held).await;
        assert_ne!(next.holder, held.holder);
        assert_eq!(
            next.token,
            held.token + 1,
            "one change of holder, one token"
        );
        assert_eq!(next.previous.as_deref(), Some(held.holder.as_str()));
        println!(
            "duties taken over by {} (token {}) {:.1} s after {} was killed",
            next.holder,
            next.token,
            after.as_secs_f64(),
            held.holder
        );
        kills.push((killed_at, after));
        held = next;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for m in members.iter_mut().filter(|m| m.child.is_none()) {
        m.restart();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (answered, failed) = stop_load(&stop, tasks).await;
    drop(members);

    // Every answered query is in Guangdong's log once, where its receipt says.
    assert!(
        answered.len() > 50,
        "only {} queries answered",
        answered.len()
    );
    let received = assert_each_answer_logged_once(&watch, &answered).await;
    let during: Vec<Duration> = answered
        .iter()
        .filter(|a| {
            kills.iter().any(|(at, took)| {
                a.sent + a.took >= *at && a.sent <= *at + *took + Duration::from_secs(1)
            })
        })
        .map(|a| a.took)
        .collect();
    println!(
        "{} queries answered ({failed} attempts failed while processes died); p99 {:?} overall, {:?} during the two takeovers ({} queries, longest {:?})",
        answered.len(),
        p99(answered.iter().map(|a| a.took).collect()),
        p99(during.clone()),
        during.len(),
        during.iter().max().copied().unwrap_or_default()
    );

    // A fourth process of the region joins for the audit: the one log,
    // witnessed by both requesters, audits clean on all three sides.
    let mut gz_config = NodeConfig::load(&configs[0]).unwrap();
    gz_config.listen.set_port(0);
    let gz = fed.start_with(gz_config).await;
    let dir = tempfile::tempdir().unwrap();
    let report = credex_tests::audit_all(&[&gy, &cq, &gz], dir.path()).await;
    assert!(
        report.violations.is_empty(),
        "the joint audit is clean: {:?}",
        report.violations
    );
    let summary = report
        .logs
        .iter()
        .find(|l| l.origin.contains("440000"))
        .unwrap();
    assert!(summary.size >= received as u64);
    gz.shutdown().await;
}
