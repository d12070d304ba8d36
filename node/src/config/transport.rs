//! `[listen]` and `[transport]`: the UDP address the QUIC endpoint binds,
//! and the connection timeouts and caps, each within a sane range.
//!
//! Owns: [`TransportLimits`] and its defaults. Does not own the per-peer
//! ingress quotas inside it ([`super::limits`]) nor TLS material
//! ([`super::tls`]).

use std::net::SocketAddr;
use std::time::Duration;

use credex_protocol::FrameLimit;
use serde::Deserialize;

use super::ConfigError;
use super::limits::{self, IngressLimits, RawLimits};
use super::values::Values;

/// Transport timeouts and caps, each within a sane range.
#[derive(Debug, Clone)]
pub struct TransportLimits {
    /// Close a connection after this long without traffic (both peers' minimum applies).
    pub idle_timeout: Duration,
    /// Send keep-alives this often; always below the idle timeout.
    pub keep_alive: Duration,
    /// Give up a handshake after this long.
    pub handshake_timeout: Duration,
    /// Give up reading or answering one request after this long.
    pub request_timeout: Duration,
    /// Most concurrent inbound connections in all.
    pub max_connections: u32,
    /// Most concurrent inbound connections from one peer node.
    pub max_connections_per_peer: u32,
    /// Most concurrent request streams a peer may open on one connection.
    pub max_streams_per_connection: u32,
    /// Largest frame accepted, checked before allocation.
    pub max_frame: FrameLimit,
    /// Per-peer quotas and the frame memory budget (`[limits]`).
    pub ingress: IngressLimits,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_peer: 8,
            max_streams_per_connection: 256,
            max_frame: FrameLimit::DEFAULT,
            ingress: IngressLimits::default(),
        }
    }
}

/// The raw `[listen]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
    addr: String,
}

/// The raw `[transport]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransport {
    idle_timeout_ms: Option<u64>,
    keep_alive_ms: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_connections: Option<u32>,
    max_connections_per_peer: Option<u32>,
    max_streams_per_connection: Option<u32>,
    max_frame_bytes: Option<u32>,
}

/// `listen.addr`: an IP address with a port.
pub(super) fn listen(raw: &RawListen, values: &Values<'_>) -> Result<SocketAddr, ConfigError> {
    raw.addr.parse().map_err(|_| {
        values.invalid(
            "listen.addr",
            format!(
                "{:?} is not an IP address with a port, e.g. \"127.0.0.1:7401\"",
                raw.addr
            ),
        )
    })
}

/// `[transport]` with the `[limits]` it bounds.
pub(super) fn parse(
    t: &RawTransport,
    raw_limits: &RawLimits,
    values: &Values<'_>,
) -> Result<TransportLimits, ConfigError> {
    let d = TransportLimits::default();
    let (idle_timeout, keep_alive) = idle_and_keep_alive(t, &d, values)?;
    let max_frame = match t.max_frame_bytes {
        None => d.max_frame,
        Some(b) => FrameLimit::new(b)
            .map_err(|e| values.invalid("transport.max_frame_bytes", e.to_string()))?,
    };
    Ok(TransportLimits {
        idle_timeout,
        keep_alive,
        handshake_timeout: values.millis(
            "transport.handshake_timeout_ms",
            t.handshake_timeout_ms,
            d.handshake_timeout,
            100,
            120_000,
        )?,
        request_timeout: values.millis(
            "transport.request_timeout_ms",
            t.request_timeout_ms,
            d.request_timeout,
            100,
            600_000,
        )?,
        max_connections: values.count(
            "transport.max_connections",
            t.max_connections,
            d.max_connections,
            100_000,
        )?,
        max_connections_per_peer: values.count(
            "transport.max_connections_per_peer",
            t.max_connections_per_peer,
            d.max_connections_per_peer,
            1_000,
        )?,
        max_streams_per_connection: values.count(
            "transport.max_streams_per_connection",
            t.max_streams_per_connection,
            d.max_streams_per_connection,
            10_000,
        )?,
        max_frame,
        ingress: limits::parse(raw_limits, max_frame, |key, reason| {
            values.invalid(key, reason)
        })?,
    })
}

/// The idle timeout and the keep-alive interval, which must stay below it
/// (by default a third of it at most), or idle peers are dropped.
fn idle_and_keep_alive(
    t: &RawTransport,
    d: &TransportLimits,
    values: &Values<'_>,
) -> Result<(Duration, Duration), ConfigError> {
    let idle_timeout = values.millis(
        "transport.idle_timeout_ms",
        t.idle_timeout_ms,
        d.idle_timeout,
        1_000,
        600_000,
    )?;
    let keep_alive = values.millis(
        "transport.keep_alive_ms",
        t.keep_alive_ms,
        d.keep_alive,
        100,
        300_000,
    )?;
    let keep_alive = if t.keep_alive_ms.is_none() {
        keep_alive.min(idle_timeout / 3)
    } else {
        keep_alive
    };
    if keep_alive >= idle_timeout {
        return Err(values.invalid(
            "transport.keep_alive_ms",
            format!(
                "{} ms must be below transport.idle_timeout_ms ({} ms), or idle peers are dropped",
                keep_alive.as_millis(),
                idle_timeout.as_millis()
            ),
        ));
    }
    Ok((idle_timeout, keep_alive))
}
