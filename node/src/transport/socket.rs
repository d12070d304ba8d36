//! The endpoint's UDP socket, with buffers sized for bursts (decision 1310).
//!
//! Every peer's requests and responses arrive on one socket. Linux gives a
//! UDP socket 208 KiB of receive buffer by default (`net.core.rmem_default`),
//! and a datagram that arrives while the buffer is full is dropped
//! (`RcvbufErrors` in `/proc/net/snmp`): QUIC recovers it, but only after
//! loss detection, so the streams it carried wait a round trip or more.
//! Measured with `credex bench query` at 64 in flight on loopback: 24–36
//! datagrams dropped in each 5 s run with the default buffer, none with
//! these. The socket asks for
//! [`UDP_BUFFER_BYTES`] each way; the kernel grants at most
//! `net.core.rmem_max` / `wmem_max`, and the node logs what it got when that
//! is less, naming the setting to raise.
//!
//! Does not own the QUIC endpoint built on the socket (`super::Transport`).

use std::net::{SocketAddr, UdpSocket};

/// Receive and send buffer asked for, bytes. Linux books twice the value it
/// grants (for its own overhead) and reports that.
pub const UDP_BUFFER_BYTES: usize = 4 << 20;

/// Bind a UDP socket on `listen` and size its buffers (see the module doc).
/// A buffer the kernel caps is logged, not refused: the node works with
/// the default buffers, and drops only bursts.
pub fn bind(listen: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(listen)?;
    let sock = socket2::SockRef::from(&socket);
    // Each setting is asked for on its own: one refused leaves the other.
    let recv = sock
        .set_recv_buffer_size(UDP_BUFFER_BYTES)
        .and_then(|()| sock.recv_buffer_size());
    let send = sock
        .set_send_buffer_size(UDP_BUFFER_BYTES)
        .and_then(|()| sock.send_buffer_size());
    for (direction, sysctl, got) in [
        ("receive", "net.core.rmem_max", recv),
        ("send", "net.core.wmem_max", send),
    ] {
        match got {
            // Linux reports twice what it granted.
            Ok(bytes) if bytes >= 2 * UDP_BUFFER_BYTES => {}
            Ok(bytes) => tracing::info!(
                %listen,
                asked = UDP_BUFFER_BYTES,
                granted = bytes / 2,
                "the UDP {direction} buffer is smaller than asked; raise {sysctl} to at least {UDP_BUFFER_BYTES} so that bursts are not dropped"
            ),
            Err(error) => tracing::warn!(
                %listen,
                %error,
                "the UDP {direction} buffer keeps the system's default size"
            ),
        }
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket is bound where asked, and its receive buffer is what the
    /// kernel grants for [`UDP_BUFFER_BYTES`] under `rmem_max` (reported
    /// doubled), so larger than a socket left to the default.
    #[test]
    fn the_socket_asks_for_buffers_beyond_the_default() -> std::io::Result<()> {
        let socket = bind("127.0.0.1:0".parse().expect("a socket address"))?;
        assert!(socket.local_addr()?.ip().is_loopback());
        let default =
            socket2::SockRef::from(&UdpSocket::bind("127.0.0.1:0")?).recv_buffer_size()?;
        let sized = socket2::SockRef::from(&socket).recv_buffer_size()?;
        let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok());
        match max {
            // The kernel grants up to its maximum, doubled.
            Some(max) if max > default / 2 => {
                assert!(sized > default, "{sized} bytes, default {default}");
                assert_eq!(sized, 2 * max.min(UDP_BUFFER_BYTES));
            }
            _ => assert!(sized >= default),
        }
        Ok(())
    }
}
