//! A fault-injecting UDP relay: peers dial the relay's address instead of
//! the node's, and the relay forwards datagrams both ways, or drops every
//! datagram while it is blocked (a network partition).
//!
//! One relay stands in front of one node. Each client address seen gets its
//! own upstream socket, so the node sees one distinct source per client, as
//! QUIC expects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Largest datagram relayed (QUIC sends at most about 1,500 bytes on
/// loopback without GSO; 64 KiB covers GSO batches too).
const MAX_DATAGRAM: usize = 65_536;

/// Counters and the switch of a running relay.
#[derive(Debug, Default)]
pub struct RelayState {
    blocked: AtomicBool,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl RelayState {
    /// Drop (true) or forward (false) every datagram from now on.
    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::SeqCst);
    }

    /// Whether the relay drops everything now.
    pub fn blocked(&self) -> bool {
        self.blocked.load(Ordering::SeqCst)
    }

    /// Datagrams forwarded so far (both directions).
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Datagrams dropped so far (both directions).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn pass(&self) -> bool {
        if self.blocked() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            false
        } else {
            self.forwarded.fetch_add(1, Ordering::Relaxed);
            true
        }
    }
}

/// A running relay in front of `target`.
#[derive(Debug, Clone)]
pub struct UdpRelay {
    /// The address peers dial instead of the target's.
    pub addr: SocketAddr,
    /// The node it forwards to.
    pub target: SocketAddr,
    /// Its switch and counters.
    pub state: Arc<RelayState>,
}

impl UdpRelay {
    /// Bind on 127.0.0.1 (ephemeral port) and forward to `target` until
    /// `shutdown` is cancelled.
    pub async fn spawn(
        target: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<UdpRelay> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let state = Arc::new(RelayState::default());
        let relay = UdpRelay {
            addr,
            target,
            state: Arc::clone(&state),
        };
        tokio::spawn(async move {
            let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let (n, client) = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = front.recv_from(&mut buf) => match r {
                        Ok(x) => x,
                        // ICMP errors surface here on some systems; keep relaying.
                        Err(_) => continue,
                    },
                };
                if !state.pass() {
                    continue;
                }
                let upstream = match upstreams.get(&client) {
                    Some(u) => Arc::clone(u),
                    None => {
                        let Ok(u) = UdpSocket::bind("127.0.0.1:0").await else {
                            continue;
                        };
                        if u.connect(target).await.is_err() {
                            continue;
                        }
                        let u = Arc::new(u);
                        upstreams.insert(client, Arc::clone(&u));
                        let (u2, front2, state2, stop) = (
                            Arc::clone(&u),
                            Arc::clone(&front),
                            Arc::clone(&state),
                            shutdown.clone(),
                        );
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; MAX_DATAGRAM];
                            loop {
                                let n = tokio::select! {
                                    _ = stop.cancelled() => return,
                                    r = u2.recv(&mut buf) => match r {
                                        Ok(n) => n,
                                        Err(_) => continue,
                                    },
                                };
                                if state2.pass() {
                                    let _ = front2.send_to(&buf[..n], client).await;
                                }
                            }
                        });
                        u
                    }
                };
                let _ = upstream.send(&buf[..n]).await;
            }
        });
        Ok(relay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn forwards_both_ways_and_drops_while_blocked() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = server.local_addr().unwrap();
        let stop = CancellationToken::new();
        let relay = UdpRelay::spawn(target, stop.clone()).await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(relay.addr).await.unwrap();
        let mut buf = [0u8; 16];

        client.send(b"ping").await.unwrap();
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        server.send_to(b"pong", from).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");

        relay.state.set_blocked(true);
        client.send(b"lost").await.unwrap();
        let got =
            tokio::time::timeout(Duration::from_millis(200), server.recv_from(&mut buf)).await;
        assert!(got.is_err(), "a datagram crossed a blocked relay");
        assert_eq!(relay.state.dropped(), 1);

        relay.state.set_blocked(false);
        client.send(b"back").await.unwrap();
        let (n, _) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(relay.state.forwarded(), 3);
        stop.cancel();
    }
}
