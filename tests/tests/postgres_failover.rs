//! A region's database fails over mid-run (issue 18 §2, decision 1020):
//! Guangdong's node runs on a PostgreSQL primary with a synchronous
//! streaming standby (two clusters on this machine,
//! `scripts/postgres-replica-pair.sh`), reached through a TCP relay that
//! plays the address a cluster manager moves. Guizhou queries it without
//! pause. The primary is stopped without a clean shutdown, the standby
//! promoted and the relay pointed at it: every query Guizhou got an answer
//! to is in the promoted database's log, once, at the leaf its receipt
//! names, the node goes on answering, and the joint audit is clean.
//!
//! Needs root and PostgreSQL 15 (as the other PostgreSQL tests do); skipped
//! with them under `CREDEX_SKIP_POSTGRES=1`.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credex_node::config::StorageTarget;
use credex_node::storage::Storage;
use credex_tests::region::{assert_each_answer_logged_once, p99, start_load, stop_load};
use credex_tests::{Federation, free_tcp_port};
use tokio::net::{TcpListener, TcpStream};

fn pair_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres-replica-pair.sh")
}

fn pair(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(pair_script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "postgres-replica-pair.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Drops both clusters however the test ends.
struct Pair;

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(pair_script()).arg("down").output();
    }
}

/// A TCP relay to a target that can be moved; moving it cuts every
/// relayed connection, as a moved address does.
struct Relay {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    live: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let live: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (to, conns) = (Arc::clone(&target), Arc::clone(&live));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = *to.lock().unwrap();
                let handle = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap().push(handle);
            }
        });
        Relay { addr, target, live }
    }

    fn move_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
        for handle in self.live.lock().unwrap().drain(..) {
            handle.abort();
        }
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_the_standby_is_promoted() {
    if credex_tests::postgres_url().is_none() {
        return;
    }
    let (pp, sp) = (free_tcp_port(), free_tcp_port());
    let urls = pair(&["up", &pp.to_string(), &sp.to_string()]);
    let _pair = Pair;
    let mut urls = urls.lines();
    let (primary, standby) = (urls.next().unwrap(), urls.next().unwrap());
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], port_of(primary)))).await;
    let through_relay = primary.replace(
        &format!(":{}/", port_of(primary)),
        &format!(":{}/", relay.addr.port()),
    );

    let fed = Arc::new(Federation::new());
    let nodes = fed
        .start_wired_with(&["gy-1", "gz-1"], |c| {
            if c.name.as_str() == "gz-1" {
                c.storage = StorageTarget::Postgres {
                    url: through_relay.clone(),
                    schema: Some("credex_failover".into()),
                };
            }
            c.transport.idle_timeout = Duration::from_secs(3);
            c.transport.keep_alive = Duration::from_secs(1);
        })
        .await;
    let mut nodes = nodes.into_iter();
    let gy = Arc::new(nodes.next().unwrap());
    let gz = nodes.next().unwrap();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = start_load(&fed, &[&gy], 4, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The primary dies without a clean shutdown; the standby is promoted
    // and the address moves to it.
    pair(&["crash-primary"]);
    pair(&["promote"]);
    relay.move_to(SocketAddr::from(([127, 0, 0, 1], port_of(standby))));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (answered, failed) = stop_load(&stop, load).await;

    // gz-1's store is encrypted at rest: open it with its KEK.
    let options = credex_node::storage::StorageOptions {
        at_rest: credex_node::boot::at_rest_config(&fed.config("gz-1")).unwrap(),
        ..Default::default()
    };
    let promoted = Storage::open_postgres_with(standby, Some("credex_failover"), options)
        .await
        .unwrap();
    let received = assert_each_answer_logged_once(&promoted, &answered).await;
    promoted.close().await;
    let after = answered
        .iter()
        .filter(|a| a.sent.elapsed() < Duration::from_secs(3))
        .count();
    assert!(
        after > 0,
        "the node answered nothing after the failover ({} answers before)",
        answered.len()
    );
    println!(
        "{} queries answered ({failed} attempts failed during the failover), {after} in the last 3 s; \
         {received} received in the promoted log; p99 {:?}, longest {:?}",
        answered.len(),
        p99(answered.iter().map(|a| a.took).collect()),
        answered.iter().map(|a| a.took).max().unwrap_or_default()
    );

    let dir = tempfile::tempdir().unwrap();
    let report = credex_tests::audit_all(&[&gy, &gz], dir.path()).await;
    assert!(
        report.violations.is_empty(),
        "the joint audit is clean: {:?}",
        report.violations
    );
    gz.shutdown().await;
}
