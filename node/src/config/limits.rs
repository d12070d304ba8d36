//! `[limits]`: what one peer region may send, and how much frame memory
//! all peers share (decision 0650). Parsed into [`IngressLimits`], which
//! the transport enforces on every request frame before it is decoded,
//! handled or logged.

use std::time::Duration;

use credex_protocol::FrameLimit;
use credex_protocol::codec::FRAME_HEADER_LEN;
use serde::Deserialize;

use super::ConfigError;

/// The raw `[limits]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    peer_requests_per_second: Option<u32>,
    peer_burst: Option<u32>,
    peer_bytes_per_second: Option<u64>,
    peer_frame_memory_bytes: Option<u64>,
    frame_memory_bytes: Option<u64>,
    frame_stall_timeout_ms: Option<u64>,
}

/// Largest value accepted for a byte limit: 64 GiB.
const MAX_BYTES: u64 = 64 << 30;

/// Ingress limits (`[limits]`): per-peer rate and byte quotas, checked on a
/// request frame's header before anything is read, decoded or logged, and
/// the frame memory budget that all connections share.
///
/// A "peer" is a region: a region CA can mint node names at will, so the
/// quotas of all nodes of one region are one quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressLimits {
    /// Requests (streams) a peer region may send per second, sustained.
    pub peer_requests_per_second: u32,
    /// Requests a peer region may send at once after being idle (the
    /// token bucket's size).
    pub peer_burst: u32,
    /// Request bytes (frame header and payload, as declared) a peer region
    /// may send per second; also the byte bucket's size, so at least one
    /// frame of the maximum size.
    pub peer_bytes_per_second: u64,
    /// Frame memory one peer region may hold at once (at least one frame
    /// of the maximum size, at most [`IngressLimits::frame_memory_bytes`]).
    pub peer_frame_memory_bytes: u64,
    /// Frame memory all connections share: request frames are buffered
    /// only as their bytes arrive and only within this budget.
    pub frame_memory_bytes: u64,
    /// A request frame whose next bytes (or the memory for them) do not
    /// come within this long is abandoned and its stream stopped.
    pub frame_stall_timeout: Duration,
}

impl IngressLimits {
    /// The defaults for frames of at most `max_frame` bytes: 5,000
    /// requests/s with a burst of 10,000 per peer region, 64 MiB/s, 64 MiB
    /// of frame memory in all (at least four maximum frames) of which a
    /// quarter (at least one maximum frame) per peer region, 5 s stall
    /// timeout. Far above what the bench (~1,000 queries/s from one peer)
    /// or the demo send.
    pub fn defaults_for(max_frame: FrameLimit) -> IngressLimits {
        let frame = framed(max_frame);
        let frame_memory_bytes = (64u64 << 20).max(4 * frame);
        IngressLimits {
            peer_requests_per_second: 5_000,
            peer_burst: 10_000,
            peer_bytes_per_second: (64u64 << 20).max(frame),
            peer_frame_memory_bytes: (frame_memory_bytes / 4).max(frame),
            frame_memory_bytes,
            frame_stall_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for IngressLimits {
    fn default() -> Self {
        IngressLimits::defaults_for(FrameLimit::DEFAULT)
    }
}

/// The bytes of one frame of the maximum size, header included.
fn framed(max_frame: FrameLimit) -> u64 {
    u64::from(max_frame.bytes()) + FRAME_HEADER_LEN as u64
}

/// Validate `raw` for frames of at most `max_frame` bytes. `invalid`
/// builds the error naming the file and the key.
pub(super) fn parse(
    raw: &RawLimits,
    max_frame: FrameLimit,
    invalid: impl Fn(&str, String) -> ConfigError,
) -> Result<IngressLimits, ConfigError> {
    let d = IngressLimits::defaults_for(max_frame);
    let frame = framed(max_frame);
    let count = |key: &str, v: Option<u32>, default: u32, max: u32| match v {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(v) => Err(invalid(key, format!("{v} is outside 1..={max}"))),
    };
    let bytes = |key: &str, v: Option<u64>, default: u64, min: u64, max: u64, why: &str| match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(invalid(
            key,
            format!("{v} bytes is outside {min}..={max} bytes ({why})"),
        )),
    };
    let frame_why = "at least one frame of transport.max_frame_bytes with its 4-byte header";
    let frame_memory_bytes = bytes(
        "limits.frame_memory_bytes",
        raw.frame_memory_bytes,
        d.frame_memory_bytes,
        frame,
        MAX_BYTES,
        frame_why,
    )?;
    let peer_frame_memory_bytes = bytes(
        "limits.peer_frame_memory_bytes",
        raw.peer_frame_memory_bytes,
        d.peer_frame_memory_bytes.min(frame_memory_bytes),
        frame,
        frame_memory_bytes,
        "one frame at least, limits.frame_memory_bytes at most",
    )?;
    let stall_ms = raw
        .frame_stall_timeout_ms
        .unwrap_or(d.frame_stall_timeout.as_millis() as u64);
    if !(100..=600_000).contains(&stall_ms) {
        return Err(invalid(
            "limits.frame_stall_timeout_ms",
            format!("{stall_ms} ms is outside 100..=600000 ms"),
        ));
    }
    Ok(IngressLimits {
        peer_requests_per_second: count(
            "limits.peer_requests_per_second",
            raw.peer_requests_per_second,
            d.peer_requests_per_second,
            1_000_000,
        )?,
        peer_burst: count(
            "limits.peer_burst",
            raw.peer_burst,
            d.peer_burst,
            10_000_000,
        )?,
        peer_bytes_per_second: bytes(
            "limits.peer_bytes_per_second",
            raw.peer_bytes_per_second,
            d.peer_bytes_per_second,
            frame,
            MAX_BYTES,
            frame_why,
        )?,
        peer_frame_memory_bytes,
        frame_memory_bytes,
        frame_stall_timeout: Duration::from_millis(stall_ms),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::NodeConfig;
    use super::*;

    const BASE: &str = r#"
[node]
region = "520000"
name = "gy-1"
data_dir = "data"

[tls]
cert = "c.pem"
key = "c.key"
root = "r.pem"

[listen]
addr = "127.0.0.1:7401"
"#;

    fn parse(extra: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(
            &format!("{BASE}{extra}"),
            Path::new("/etc/credex/node.toml"),
        )
    }

    #[test]
    fn defaults_stay_far_above_the_bench() {
        let d = parse("").expect("parses").transport.ingress;
        assert_eq!(d, IngressLimits::default());
        assert!(d.peer_requests_per_second >= 5_000 && d.peer_burst >= 10_000);
        assert!(d.peer_frame_memory_bytes <= d.frame_memory_bytes);
        assert!(d.peer_bytes_per_second >= framed(FrameLimit::DEFAULT));
        // A larger frame limit raises the defaults that must hold a frame.
        let big = parse("\n[transport]\nmax_frame_bytes = 67108864\n")
            .expect("parses")
            .transport
            .ingress;
        assert!(big.peer_frame_memory_bytes >= (64 << 20) + 4);
        assert!(big.frame_memory_bytes >= 4 * ((64 << 20) + 4));
    }

    #[test]
    fn limits_are_read_and_checked() {
        let c = parse(
            "\n[limits]\npeer_requests_per_second = 10\npeer_burst = 20\npeer_bytes_per_second = 2000000\nframe_memory_bytes = 4000000\npeer_frame_memory_bytes = 2000000\nframe_stall_timeout_ms = 250\n",
        )
        .expect("parses");
        let l = c.transport.ingress;
        assert_eq!(
            (l.peer_requests_per_second, l.peer_burst),
            (10, 20),
            "{l:?}"
        );
        assert_eq!(l.peer_bytes_per_second, 2_000_000);
        assert_eq!(
            (l.frame_memory_bytes, l.peer_frame_memory_bytes),
            (4_000_000, 2_000_000)
        );
        assert_eq!(l.frame_stall_timeout, Duration::from_millis(250));

        let cases = [
            (
                "peer_requests_per_second = 0",
                "limits.peer_requests_per_second",
            ),
            ("peer_burst = 0", "limits.peer_burst"),
            (
                "peer_bytes_per_second = 1000",
                "limits.peer_bytes_per_second",
            ),
            ("frame_memory_bytes = 1000", "limits.frame_memory_bytes"),
            (
                "frame_memory_bytes = 3000000\npeer_frame_memory_bytes = 4000000",
                "limits.peer_frame_memory_bytes",
            ),
            (
                "frame_stall_timeout_ms = 5",
                "limits.frame_stall_timeout_ms",
            ),
        ];
        for (line, key) in cases {
            let msg = parse(&format!("\n[limits]\n{line}\n"))
                .expect_err(line)
                .to_string();
            assert!(msg.contains(&format!("key `{key}`")), "{key}: {msg}");
        }
        let msg = parse("\n[limits]\npeer_rps = 3\n")
            .expect_err("unknown key")
            .to_string();
        assert!(msg.contains("peer_rps") && msg.contains("line"), "{msg}");
    }
}
