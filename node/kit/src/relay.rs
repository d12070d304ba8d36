//! A fault-injecting UDP relay for several nodes on loopback: the
//! simulator's partitions and the integration tests' lost answers.
//!
//! A client dials the relay's address instead of the node's. The relay
//! forwards datagrams both ways, with one upstream socket per client address
//! so the node sees one distinct source per client, as QUIC expects. What
//! passes is a [`Link`], switched at any time: everything, nothing (a
//! network partition), or only the client's datagrams (the node's answers
//! are lost). Counters say how many datagrams were forwarded and dropped, so
//! a run can tell that a fault took effect.
//!
//! A relay stops when it is dropped or when the `shutdown` token it was
//! started with ([`UdpRelay::start_until`]) is cancelled. It does not delay,
//! reorder or drop at random: loss is all or nothing per direction.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Largest datagram relayed (QUIC sends at most about 1,500 bytes on
/// loopback without GSO; 64 KiB covers GSO batches too).
const MAX_DATAGRAM: usize = 65_536;

/// What the relay lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Everything, both ways.
    Open,
    /// Nothing, either way: a network partition.
    Partitioned,
    /// Client to node only: the node's answers are lost.
    DownstreamLost,
}

impl Link {
    fn code(self) -> u8 {
        match self {
            Link::Open => 0,
            Link::Partitioned => 1,
            Link::DownstreamLost => 2,
        }
    }

    fn from_code(code: u8) -> Link {
        match code {
            0 => Link::Open,
            1 => Link::Partitioned,
            _ => Link::DownstreamLost,
        }
    }
}

/// The switch and the counters, shared by the relay's tasks.
#[derive(Debug, Default)]
struct Switch {
    link: AtomicU8,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl Switch {
    /// Whether a datagram going `upstream` (client to node) or back passes
    /// now; counts it either way.
    fn passes(&self, upstream: bool) -> bool {
        let pass = match Link::from_code(self.link.load(Ordering::SeqCst)) {
            Link::Open => true,
            Link::Partitioned => false,
            Link::DownstreamLost => upstream,
        };
        let counter = if pass { &self.forwarded } else { &self.dropped };
        counter.fetch_add(1, Ordering::Relaxed);
        pass
    }
}

/// A running relay in front of one node.
#[derive(Debug)]
pub struct UdpRelay {
    addr: SocketAddr,
    target: SocketAddr,
    switch: Arc<Switch>,
    stop: CancellationToken,
}

impl UdpRelay {
    /// Bind on 127.0.0.1 (ephemeral port) and forward to `target` until the
    /// relay is dropped.
    pub async fn start(target: SocketAddr) -> std::io::Result<UdpRelay> {
        UdpRelay::start_until(target, &CancellationToken::new()).await
    }

    /// Like [`UdpRelay::start`], and stop as well when `shutdown` is
    /// cancelled.
    pub async fn start_until(
        target: SocketAddr,
        shutdown: &CancellationToken,
    ) -> std::io::Result<UdpRelay> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let relay = UdpRelay {
            addr: front.local_addr()?,
            target,
            switch: Arc::new(Switch::default()),
            stop: shutdown.child_token(),
        };
        tokio::spawn(forward(
            front,
            target,
            Arc::clone(&relay.switch),
            relay.stop.clone(),
        ));
        Ok(relay)
    }

    /// The address clients dial instead of the node's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Change what passes, from the next datagram on.
    pub fn set(&self, link: Link) {
        self.switch.link.store(link.code(), Ordering::SeqCst);
    }

    /// What passes now.
    pub fn link(&self) -> Link {
        Link::from_code(self.switch.link.load(Ordering::SeqCst))
    }

    /// Drop everything for `window`, then let traffic through again.
    pub async fn partition_for(&self, window: Duration) {
        self.set(Link::Partitioned);
        tokio::time::sleep(window).await;
        self.set(Link::Open);
    }

    /// Datagrams forwarded so far (both directions).
    pub fn forwarded(&self) -> u64 {
        self.switch.forwarded.load(Ordering::Relaxed)
    }

    /// Datagrams dropped so far (both directions).
    pub fn dropped(&self) -> u64 {
        self.switch.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Client to node: datagrams arriving at `front`, each client through its
/// own upstream socket (made on its first datagram that passes), whose
/// answers [`backward`] carries.
async fn forward(
    front: Arc<UdpSocket>,
    target: SocketAddr,
    switch: Arc<Switch>,
    stop: CancellationToken,
) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = front.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors surface here on some systems; keep relaying.
                Err(_) => continue,
            },
        };
        if !switch.passes(true) {
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
                tokio::spawn(backward(
                    Arc::clone(&u),
                    Arc::clone(&front),
                    client,
                    Arc::clone(&switch),
                    stop.clone(),
                ));
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

/// Node to client: the answers arriving on one client's upstream socket.
async fn backward(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    switch: Arc<Switch>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = upstream.recv(&mut buf) => match r {
                Ok(n) => n,
                // The node is down (ICMP port unreachable): it may restart.
                Err(_) => continue,
            },
        };
        if switch.passes(false) {
            let _ = front.send_to(&buf[..n], client).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn nothing_arrives(socket: &UdpSocket) -> bool {
        let mut buf = [0u8; 16];
        tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buf))
            .await
            .is_err()
    }

    #[tokio::test]
    async fn forwards_both_ways_and_drops_what_the_link_loses() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relay = UdpRelay::start(server.local_addr().unwrap()).await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(relay.addr()).await.unwrap();
        let mut buf = [0u8; 16];

        client.send(b"ping").await.unwrap();
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        server.send_to(b"pong", from).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");

        relay.set(Link::Partitioned);
        client.send(b"lost").await.unwrap();
        assert!(nothing_arrives(&server).await, "crossed a partition");
        assert_eq!(relay.dropped(), 1);

        relay.set(Link::DownstreamLost);
        client.send(b"asked").await.unwrap();
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"asked");
        server.send_to(b"unheard", from).await.unwrap();
        assert!(nothing_arrives(&client).await, "an answer crossed");
        assert_eq!(relay.dropped(), 2);

        relay.set(Link::Open);
        client.send(b"back").await.unwrap();
        let (n, _) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(relay.forwarded(), 4);
    }

    #[tokio::test]
    async fn stops_when_shut_down_or_dropped() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let relay = UdpRelay::start_until(server.local_addr().unwrap(), &shutdown)
            .await
            .unwrap();
        shutdown.cancel();
        tokio::task::yield_now().await;
        client.send_to(b"late", relay.addr()).await.unwrap();
        assert!(nothing_arrives(&server).await, "relayed after shutdown");

        let relay = UdpRelay::start(server.local_addr().unwrap()).await.unwrap();
        let addr = relay.addr();
        drop(relay);
        tokio::task::yield_now().await;
        client.send_to(b"late", addr).await.unwrap();
        assert!(nothing_arrives(&server).await, "relayed after drop");
    }
}
