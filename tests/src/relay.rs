//! A fault-injecting UDP relay for multi-node tests: a client dials the
//! relay's address instead of the server's; the relay forwards datagrams
//! both ways (one upstream socket per client address) and can drop all of
//! them, or only the server's answers, for a while — a network partition.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What the relay lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Everything.
    Open,
    /// Nothing, either way.
    Partitioned,
    /// Client to server only: the server's answers are lost.
    DownstreamLost,
}

#[derive(Default)]
struct Shared {
    link: AtomicU8,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn link(&self) -> Link {
        match self.link.load(Ordering::SeqCst) {
            0 => Link::Open,
            1 => Link::Partitioned,
            _ => Link::DownstreamLost,
        }
    }

    fn passes(&self, upstream: bool) -> bool {
        let ok = match self.link() {
            Link::Open => true,
            Link::Partitioned => false,
            Link::DownstreamLost => upstream,
        };
        let counter = if ok { &self.forwarded } else { &self.dropped };
        counter.fetch_add(1, Ordering::Relaxed);
        ok
    }
}

/// A running relay; stops when dropped.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    /// Relay datagrams sent to a new loopback address to `server`.
    pub async fn start(server: SocketAddr) -> Relay {
        let front = Arc::new(
            UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("relay binds a loopback port"),
        );
        let addr = front.local_addr().expect("relay address");
        let shared = Arc::new(Shared::default());
        let tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let main = {
            let shared = Arc::clone(&shared);
            let tasks = Arc::clone(&tasks);
            tokio::spawn(async move {
                let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
                let mut buf = vec![0u8; 65_536];
                loop {
                    let Ok((n, client)) = front.recv_from(&mut buf).await else {
                        return;
                    };
                    let up = match upstreams.get(&client) {
                        Some(up) => Arc::clone(up),
                        None => {
                            let Ok(sock) = UdpSocket::bind("127.0.0.1:0").await else {
                                continue;
                            };
                            let up = Arc::new(sock);
                            upstreams.insert(client, Arc::clone(&up));
                            let back = {
                                let up = Arc::clone(&up);
                                let front = Arc::clone(&front);
                                let shared = Arc::clone(&shared);
                                tokio::spawn(async move {
                                    let mut buf = vec![0u8; 65_536];
                                    while let Ok((n, _)) = up.recv_from(&mut buf).await {
                                        if shared.passes(false) {
                                            let _ = front.send_to(&buf[..n], client).await;
                                        }
                                    }
                                })
                            };
                            tasks.lock().expect("relay tasks").push(back);
                            up
                        }
                    };
                    if shared.passes(true) {
                        let _ = up.send_to(&buf[..n], server).await;
                    }
                }
            })
        };
        tasks.lock().expect("relay tasks").push(main);
        Relay {
            addr,
            shared,
            tasks,
        }
    }

    /// The address clients dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Change what passes.
    pub fn set(&self, link: Link) {
        let v = match link {
            Link::Open => 0,
            Link::Partitioned => 1,
            Link::DownstreamLost => 2,
        };
        self.shared.link.store(v, Ordering::SeqCst);
    }

    /// Drop everything for `window`, then let traffic through again.
    pub async fn partition_for(&self, window: Duration) {
        self.set(Link::Partitioned);
        tokio::time::sleep(window).await;
        self.set(Link::Open);
    }

    /// Datagrams forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Relaxed)
    }

    /// Datagrams dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}
